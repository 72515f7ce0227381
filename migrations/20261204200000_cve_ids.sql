-- Data fix, written by hand: a vulnerability is reported under an OSV record's id only when that
-- id IS a CVE id (CVE-YYYY-NNNN…); otherwise under its first CVE alias (or upstream id), else its
-- own id. Earlier versions took any id that merely started with "CVE-" ("CVE-2099-0001-OSV").
-- Advisories get their CVE id again by the rule.
UPDATE "advisories" AS a SET "cve_id" = fixed.cve_id
FROM (
  SELECT ad."id", coalesce(
    CASE WHEN ad."osv_id" ~ '^CVE-[0-9]{4}-[0-9]{4,}$' THEN ad."osv_id" END,
    (SELECT e.v FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(ad."aliases") = 'array' THEN ad."aliases" ELSE '[]'::jsonb END)
       WITH ORDINALITY AS e(v, n)
     WHERE e.v ~ '^CVE-[0-9]{4}-[0-9]{4,}$' ORDER BY e.n LIMIT 1),
    ad."osv_id") AS cve_id
  FROM "advisories" AS ad
) AS fixed
WHERE a."id" = fixed."id" AND a."cve_id" IS DISTINCT FROM fixed.cve_id;
-- The built-in scanner's findings that carry an advisory's own id which is not a CVE id take the
-- advisory's CVE id (a record with several CVE aliases gets its first here; a rescan reports each).
-- Adapters' findings are left as their scanners wrote them.
UPDATE "vulnerabilities" AS v SET "cve_id" = a."cve_id"
FROM "advisories" AS a, "scanners" AS s
WHERE a."osv_id" = v."cve_id" AND s."id" = v."scanner_id" AND s."builtin"
  AND v."cve_id" !~ '^CVE-[0-9]{4}-[0-9]{4,}$' AND a."cve_id" ~ '^CVE-[0-9]{4}-[0-9]{4,}$';
