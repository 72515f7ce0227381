-- Modify "projects" table
ALTER TABLE "projects" ADD COLUMN "proxy_namespace" character varying NOT NULL DEFAULT '', ADD COLUMN "proxy_freshness_seconds" bigint NOT NULL DEFAULT 300;
