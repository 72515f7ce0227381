// Package glob translates the doublestar globs of Harbor's filters (repositories, tags, CVE ids)
// into anchored PostgreSQL regular expressions with the same matches, so that filters run in SQL.
// It owns the translation and the validation of globs; it runs no query.
package glob

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"
)

// maxGlob is the longest glob a filter takes: room for a brace list of dozens of CVE ids.
const maxGlob = 1024

// Regex turns a doublestar glob into an anchored PostgreSQL regular expression with the
// same matches: * and ? stay inside one path segment, ** (a whole segment) crosses them, {a,b}
// alternates (nested too), [...] is a class, \ escapes. "" (no filter) gives "".
func Regex(glob string) (string, error) {
	if glob == "" {
		return "", nil
	}
	if strings.ContainsAny(glob, " \t\r\n") {
		return "", fmt.Errorf("%q contains white space", glob)
	}
	if !utf8.ValidString(glob) || strings.ContainsFunc(glob, unicode.IsControl) {
		return "", fmt.Errorf("%q contains control characters or is not UTF-8", glob)
	}
	if len(glob) > maxGlob {
		return "", fmt.Errorf("the glob is %d bytes long; at most %d are allowed", len(glob), maxGlob)
	}
	if !doublestar.ValidatePattern(glob) {
		return "", fmt.Errorf("%q is not a valid glob (use *, **, ?, [abc] and {a,b})", glob)
	}
	var b strings.Builder
	b.WriteString("^")
	depth := 0
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch c {
		case '*':
			start := i == 0 || glob[i-1] == '/' || glob[i-1] == '{' || glob[i-1] == ','
			if i+1 < len(glob) && glob[i+1] == '*' {
				i++
				stars := 2
				for i+1 < len(glob) && glob[i+1] == '*' {
					i++
					stars++
				}
				if stars > 2 {
					// doublestar gives runs of three or more stars odd meanings; nobody needs them.
					return "", fmt.Errorf("%q has %d stars in a row: use * or **", glob, stars)
				}
				next := byte(0)
				if i+1 < len(glob) {
					next = glob[i+1]
				}
				switch {
				case start && next == '/':
					b.WriteString("(?:.*/)?") // "**/": any number of leading segments, none included
					i++
					continue
				case start && (next == 0 || next == '}' || next == ','):
					b.WriteString(".*")
					continue
				}
				// doublestar reads a ** inside a segment in ways that depend on what surrounds it;
				// refuse it rather than guess.
				return "", fmt.Errorf("%q has ** inside a path segment: ** must stand between slashes (a/**/b); use * within a segment", glob)
			}
			b.WriteString("[^/]*")
		case '?':
			b.WriteString("[^/]")
		case '/':
			// "/**" at the end (or of an alternative) also matches the directory itself.
			if rest := glob[i+1:]; rest == "**" || strings.HasPrefix(rest, "**}") || strings.HasPrefix(rest, "**,") {
				b.WriteString("(?:/.*)?")
				i += 2
				continue
			}
			// Names never end in a slash, and doublestar's matches of a pattern that does depend on
			// what precedes it: refuse it.
			if rest := glob[i+1:]; rest == "" || rest[0] == '}' || rest[0] == ',' || strings.HasPrefix(rest, "**/") && (len(rest) == 3 || rest[3] == '}' || rest[3] == ',') {
				return "", fmt.Errorf("%q ends a name with a slash: repository names, tags and CVE ids never do", glob)
			}
			b.WriteString("/")
		case '{':
			depth++
			b.WriteString("(?:")
		case '}':
			if depth > 0 {
				depth--
				b.WriteString(")")
			} else {
				b.WriteString(`\}`)
			}
		case ',':
			if depth > 0 {
				b.WriteString("|")
			} else {
				b.WriteString(",")
			}
		case '\\':
			if i+1 < len(glob) {
				i++
				writeLiteral(&b, glob[i])
			}
		case '[':
			// The class ends at the first "]" that is not escaped.
			end := -1
			for j := i + 1; j < len(glob); j++ {
				if glob[j] == '\\' {
					j++
				} else if glob[j] == ']' {
					end = j
					break
				}
			}
			if end < 0 {
				writeLiteral(&b, c)
				continue
			}
			class := glob[i+1 : end]
			i = end
			b.WriteString("[")
			if strings.HasPrefix(class, "!") || strings.HasPrefix(class, "^") {
				// As doublestar does, a negated class may match "/": it excludes only what it names.
				b.WriteString("^")
				class = class[1:]
			}
			// Repository names, tags and CVE ids are letters, digits, ".", "_" and "-": a class of
			// anything else (slashes, brackets, escapes) matches nothing a filter needs, and
			// doublestar's readings of such classes disagree with its own validation.
			if class == "" || strings.ContainsFunc(class, func(r rune) bool {
				return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '.' && r != '_' && r != '-'
			}) {
				return "", fmt.Errorf("%q has a character class [%s]: a class may hold only letters, digits, '.', '_' and '-' (ranges like a-z included)", glob, class)
			}
			// Letters, digits and other non-ASCII characters go as they are, "-" between two
			// characters makes a range (which must run forwards, or PostgreSQL refuses the
			// expression); anything else is escaped, so that PostgreSQL reads no "[:", "[=" or
			// "[." construct and no escape like "\d".
			type item struct {
				r       rune
				escaped bool
			}
			var items []item
			rs := []rune(class)
			for j := 0; j < len(rs); j++ {
				if rs[j] == '\\' && j+1 < len(rs) {
					j++
					items = append(items, item{rs[j], true})
					continue
				}
				items = append(items, item{rs[j], false})
			}
			for j := 0; j < len(items); j++ {
				if j+2 < len(items) && items[j+1].r == '-' && !items[j+1].escaped {
					lo, hi := items[j].r, items[j+2].r
					if lo > hi {
						return "", fmt.Errorf("%q: the character range %c-%c runs backwards", glob, lo, hi)
					}
					writeClassRune(&b, lo)
					b.WriteByte('-')
					writeClassRune(&b, hi)
					j += 2
					continue
				}
				writeClassRune(&b, items[j].r)
			}
			b.WriteString("]")
		default:
			writeLiteral(&b, c)
		}
	}
	b.WriteString("$")
	return b.String(), nil
}

// writeClassRune writes r inside a bracket expression so that PostgreSQL reads it literally.
func writeClassRune(b *strings.Builder, r rune) {
	if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r >= 0x80 {
		b.WriteRune(r)
		return
	}
	b.WriteByte('\\')
	b.WriteRune(r)
}

// writeLiteral writes c so that a PostgreSQL regular expression matches it literally.
func writeLiteral(b *strings.Builder, c byte) {
	if strings.IndexByte(`.^$|()[]{}*+?\`, c) >= 0 {
		b.WriteByte('\\')
	}
	b.WriteByte(c)
}
