package auditlog

import (
	"strings"

	"entgo.io/ent/dialect/sql"

	entauditlog "github.com/berth-registry/berth/ent/auditlog"
	"github.com/berth-registry/berth/ent/predicate"
	"github.com/berth-registry/berth/fault"
)

// maxGlobAlternatives bounds how many LIKE patterns one glob may expand to.
const maxGlobAlternatives = 64

// globPredicate turns a resource glob (*, **, ?, {a,b}) into LIKE patterns; a literal prefix keeps
// it on the resource index.
func globPredicate(glob string) (predicate.AuditLog, error) {
	alternatives, err := expandBraces(glob)
	if err != nil {
		return nil, fault.BadInput("resourceGlob %q: %s", glob, err.Error())
	}
	if len(alternatives) > maxGlobAlternatives {
		return nil, fault.BadInput("resourceGlob %q expands to %d patterns; the limit is %d", glob, len(alternatives), maxGlobAlternatives)
	}
	return predicate.AuditLog(func(s *sql.Selector) {
		likes := make([]*sql.Predicate, len(alternatives))
		for i, a := range alternatives {
			likes[i] = sql.Like(s.C(entauditlog.FieldResource), globToLike(a))
		}
		s.Where(sql.Or(likes...))
	}), nil
}

// expandBraces expands {a,b} alternatives, nested ones included.
func expandBraces(glob string) ([]string, error) {
	open := strings.IndexByte(glob, '{')
	if open < 0 {
		if strings.ContainsRune(glob, '}') {
			return nil, errString("unmatched '}'")
		}
		return []string{glob}, nil
	}
	depth, close := 0, -1
	var parts []string
	start := open + 1
	for i := open; i < len(glob) && close < 0; i++ {
		switch glob[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				parts = append(parts, glob[start:i])
				close = i
			}
		case ',':
			if depth == 1 {
				parts = append(parts, glob[start:i])
				start = i + 1
			}
		}
	}
	if close < 0 {
		return nil, errString("unmatched '{'")
	}
	var out []string
	for _, p := range parts {
		rest, err := expandBraces(glob[:open] + p + glob[close+1:])
		if err != nil {
			return nil, err
		}
		out = append(out, rest...)
		if len(out) > maxGlobAlternatives {
			return out, nil
		}
	}
	return out, nil
}

type errString string

func (e errString) Error() string { return string(e) }

// globToLike escapes LIKE's own wildcards and maps * and ? to % and _.
func globToLike(glob string) string {
	var b strings.Builder
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '\\', '%', '_':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '*':
			b.WriteByte('%')
			for i+1 < len(glob) && glob[i+1] == '*' {
				i++
			}
		case '?':
			b.WriteByte('_')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
