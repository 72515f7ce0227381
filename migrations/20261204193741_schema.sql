-- Modify "users" table
ALTER TABLE "users" ADD COLUMN "credentials_changed_at" timestamptz NULL;
