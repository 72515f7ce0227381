package harborq

import (
	"reflect"
	"strings"
	"testing"

	"github.com/berth-registry/berth/fault"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		q    string
		want []Term
	}{
		{"", nil},
		{"operation=create", []Term{{Key: "operation", Kind: Exact, Value: "create"}}},
		{"resource=~nginx,username=admin", []Term{
			{Key: "resource", Kind: Fuzzy, Value: "nginx"}, {Key: "username", Kind: Exact, Value: "admin"}}},
		{`op_time=[2020-04-09 02:36:00~2020-04-10 02:36:00]`, []Term{
			{Key: "op_time", Kind: Range, Min: "2020-04-09 02:36:00", Max: "2020-04-10 02:36:00"}}},
		{"id=[3~]", []Term{{Key: "id", Kind: Range, Min: "3"}}},
		{"operation={create delete}", []Term{{Key: "operation", Kind: Union, Values: []string{"create", "delete"}}}},
		{"labels=(1 2)", []Term{{Key: "labels", Kind: Intersection, Values: []string{"1", "2"}}}},
		{`name="a,b c"`, []Term{{Key: "name", Kind: Exact, Value: "a,b c"}}},
		{`name={'x y' z}`, []Term{{Key: "name", Kind: Union, Values: []string{"x y", "z"}}}},
		{"a=1,,b=2,", []Term{{Key: "a", Kind: Exact, Value: "1"}, {Key: "b", Kind: Exact, Value: "2"}}},
	} {
		got, err := Parse(tc.q)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.q, err)
			continue
		}
		if !reflect.DeepEqual(got.Terms, tc.want) {
			t.Errorf("Parse(%q) = %+v; want %+v", tc.q, got.Terms, tc.want)
		}
	}
}

// Hostile or malformed queries are bad input with a message, never a panic or a silent filter.
func TestParseRefuses(t *testing.T) {
	t.Parallel()
	for _, q := range []string{
		"novalue", "=v", "a=1,a=2", "a=[1~2", "a=[]", "a=[~]", "a={}", "a={1 2", "a=(1 2}", "a=}", "a='x",
		`a="x"y"`, "a=x(y", "k e y=1", "a=[1 2]", strings.Repeat("a", MaxLength+1),
		strings.Repeat("k=1,", MaxTerms) + "z=1", "a={" + strings.Repeat("v ", MaxValues+1) + "}", "a=\xff",
	} {
		_, err := Parse(q)
		if _, ok := fault.As(err); !ok {
			t.Errorf("Parse(%.60q) = %v; want a fault", q, err)
		}
	}
}

func TestOnlyAndKinds(t *testing.T) {
	t.Parallel()
	q, err := Parse("operation=create,resource=~x")
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Only("operation", "resource"); err != nil {
		t.Errorf("Only with both keys: %v", err)
	}
	if err := q.Only("operation"); err == nil {
		t.Error("Only(operation) accepted resource")
	}
	term, _ := q.Get("resource")
	if err := term.Kinds(Exact); err == nil {
		t.Error("a fuzzy term passed Kinds(Exact)")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"a=b", "a=~b", "a=[1~2]", "a={x y}", "a=(x y)", `a="x,y"`, "a=1,b=[~3]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got, err := Parse(q)
		if err != nil {
			if _, ok := fault.As(err); !ok {
				t.Fatalf("Parse(%q): %v is not a fault", q, err)
			}
			return
		}
		if len(got.Terms) > MaxTerms {
			t.Fatalf("Parse(%q): %d terms", q, len(got.Terms))
		}
		seen := map[string]bool{}
		for _, term := range got.Terms {
			if term.Key == "" || seen[term.Key] {
				t.Fatalf("Parse(%q): empty or repeated key in %+v", q, got.Terms)
			}
			seen[term.Key] = true
			if len(term.Values) > MaxValues {
				t.Fatalf("Parse(%q): %d values", q, len(term.Values))
			}
		}
	})
}
