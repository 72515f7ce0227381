-- Modify "repositories" table
ALTER TABLE "repositories" ADD COLUMN "description" character varying NOT NULL DEFAULT '';
