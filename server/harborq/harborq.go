// Package harborq parses Harbor's `q` query parameter, the filter language of Harbor's REST lists:
//
//	k=v          exact match
//	k=~v         fuzzy match (the value is contained)
//	k=[min~max]  range (either end may be left out: [min~] or [~max])
//	k={v1 v2}    any of the values (union)
//	k=(v1 v2)    all of the values (intersection)
//
// Terms are separated by commas; a value may be quoted with " or ' to hold spaces, commas or
// brackets. Every REST list parses q here, once, and asks for the keys it understands: an unknown
// key, a repeated key or a malformed term is a fault.BadInput (a Harbor-shaped 400), never a
// silently ignored filter.
package harborq

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berth-registry/berth/fault"
)

// Limits on what a q may hold: a filter is a few terms, not a payload.
const (
	MaxLength = 1024 // bytes of the whole q
	MaxTerms  = 16
	MaxValues = 32 // in one {…} or (…) list
)

// Kind is how a term matches.
type Kind int

const (
	Exact Kind = iota
	Fuzzy
	Range
	Union
	Intersection
)

func (k Kind) String() string {
	return [...]string{"exact", "fuzzy", "range", "union", "intersection"}[k]
}

// Term is one k=… of a query.
type Term struct {
	Key  string
	Kind Kind
	// Value is the value of an Exact or Fuzzy term.
	Value string
	// Min and Max are a Range's ends; an empty end is open.
	Min, Max string
	// Values are the values of a Union or Intersection.
	Values []string
}

// Query is a parsed q: its terms in the order given, each key at most once.
type Query struct {
	Terms []Term
}

// Parse parses q. An empty q is an empty query.
func Parse(q string) (Query, error) {
	var out Query
	if len(q) > MaxLength {
		return out, fault.BadInput("q is %d bytes long: at most %d", len(q), MaxLength)
	}
	if !utf8.ValidString(q) {
		return out, fault.BadInput("q is not valid UTF-8")
	}
	parts, err := split(q)
	if err != nil {
		return out, err
	}
	for _, part := range parts {
		if strings.TrimSpace(part) == "" {
			continue
		}
		if len(out.Terms) == MaxTerms {
			return out, fault.BadInput("q has more than %d terms", MaxTerms)
		}
		t, err := parseTerm(part)
		if err != nil {
			return out, err
		}
		if slices.ContainsFunc(out.Terms, func(o Term) bool { return o.Key == t.Key }) {
			return out, fault.BadInput("q names %q twice", t.Key)
		}
		out.Terms = append(out.Terms, t)
	}
	return out, nil
}

// split cuts q at the commas outside quotes and brackets.
func split(q string) ([]string, error) {
	var parts []string
	depth, start := 0, 0
	var quote rune
	for i, c := range q {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[' || c == '{' || c == '(':
			depth++
		case c == ']' || c == '}' || c == ')':
			depth--
			if depth < 0 {
				return nil, fault.BadInput("q has an unmatched %q", c)
			}
		case c == ',' && depth == 0:
			parts = append(parts, q[start:i])
			start = i + 1
		}
	}
	if quote != 0 {
		return nil, fault.BadInput("q has an unterminated quote")
	}
	if depth != 0 {
		return nil, fault.BadInput("q has an unclosed bracket")
	}
	return append(parts, q[start:]), nil
}

func parseTerm(s string) (Term, error) {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return Term{}, fault.BadInput("q term %q is not key=value", s)
	}
	if !validKey(k) {
		return Term{}, fault.BadInput("q key %q: use letters, digits, '_', '.' and '-'", k)
	}
	v = strings.TrimSpace(v)
	t := Term{Key: k}
	switch {
	case strings.HasPrefix(v, "~"):
		t.Kind = Fuzzy
		val, err := unquote(v[1:])
		if err != nil {
			return t, fault.BadInput("q %s: %v", k, err)
		}
		t.Value = val
	case strings.HasPrefix(v, "["):
		if !strings.HasSuffix(v, "]") {
			return t, fault.BadInput("q %s: a range is [min~max]", k)
		}
		lo, hi, ok := cutOutsideQuotes(v[1:len(v)-1], '~')
		if !ok {
			return t, fault.BadInput("q %s: a range is [min~max]", k)
		}
		var err error
		t.Kind = Range
		if t.Min, err = unquote(strings.TrimSpace(lo)); err != nil {
			return t, fault.BadInput("q %s: %v", k, err)
		}
		if t.Max, err = unquote(strings.TrimSpace(hi)); err != nil {
			return t, fault.BadInput("q %s: %v", k, err)
		}
		if t.Min == "" && t.Max == "" {
			return t, fault.BadInput("q %s: a range needs at least one end", k)
		}
	case strings.HasPrefix(v, "{"), strings.HasPrefix(v, "("):
		closing, kind := "}", Union
		if v[0] == '(' {
			closing, kind = ")", Intersection
		}
		if !strings.HasSuffix(v, closing) {
			return t, fault.BadInput("q %s: a list is {v1 v2} or (v1 v2)", k)
		}
		vals, err := fields(v[1 : len(v)-1])
		if err != nil {
			return t, fault.BadInput("q %s: %v", k, err)
		}
		if len(vals) == 0 {
			return t, fault.BadInput("q %s: an empty list", k)
		}
		if len(vals) > MaxValues {
			return t, fault.BadInput("q %s: more than %d values", k, MaxValues)
		}
		t.Kind, t.Values = kind, vals
	default:
		val, err := unquote(v)
		if err != nil {
			return t, fault.BadInput("q %s: %v", k, err)
		}
		t.Kind, t.Value = Exact, val
	}
	return t, nil
}

func validKey(k string) bool {
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return len(k) <= 64
}

// unquote strips one pair of matching quotes; a value with a stray quote or bracket is refused.
func unquote(v string) (string, error) {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		inner := v[1 : len(v)-1]
		if strings.ContainsRune(inner, rune(v[0])) {
			return "", fault.BadInput("value %s has a quote inside its quotes", v)
		}
		return inner, nil
	}
	if strings.ContainsAny(v, "\"'[]{}()") {
		return "", fault.BadInput("value %q has a quote or bracket: quote the whole value", v)
	}
	return v, nil
}

// cutOutsideQuotes cuts s at the first sep outside quotes.
func cutOutsideQuotes(s string, sep rune) (string, string, bool) {
	var quote rune
	for i, c := range s {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// fields splits a list's inside at spaces outside quotes and unquotes each value.
func fields(s string) ([]string, error) {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		end := strings.IndexByte(s, ' ')
		if s[0] == '"' || s[0] == '\'' {
			closing := strings.IndexByte(s[1:], s[0])
			if closing < 0 {
				return nil, fault.BadInput("unterminated quote in a list")
			}
			end = closing + 2
			if end < len(s) && s[end] != ' ' {
				return nil, fault.BadInput("a quoted value must be followed by a space")
			}
		}
		if end < 0 {
			end = len(s)
		}
		v, err := unquote(s[:end])
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		s = s[end:]
	}
	return out, nil
}

// Only refuses a query with a key outside allowed: a filter Berth cannot apply is said, never
// dropped.
func (q Query) Only(allowed ...string) error {
	for _, t := range q.Terms {
		if !slices.Contains(allowed, t.Key) {
			if len(allowed) == 0 {
				return fault.BadInput("this list takes no q filter (got %q)", t.Key)
			}
			return fault.BadInput("q cannot filter on %q here: use %s", t.Key, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// Get returns the term for key, if q has one.
func (q Query) Get(key string) (Term, bool) {
	for _, t := range q.Terms {
		if t.Key == key {
			return t, true
		}
	}
	return Term{}, false
}

// Kinds refuses a term of a kind the key does not support.
func (t Term) Kinds(kinds ...Kind) error {
	if slices.Contains(kinds, t.Kind) {
		return nil
	}
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.String()
	}
	return fault.BadInput("q %s: a %s match is not supported here (use %s)", t.Key, t.Kind, strings.Join(names, " or "))
}

// TimeLayout is how Harbor writes a time in q: "2020-04-09 02:36:00" (UTC).
const TimeLayout = "2006-01-02 15:04:05"

// Time parses a time value of q: Harbor's layout, or RFC 3339.
func Time(key, v string) (time.Time, error) {
	if t, err := time.Parse(TimeLayout, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, fault.BadInput("q %s: %q is not a time such as \"2020-04-09 02:36:00\"", key, v)
}
