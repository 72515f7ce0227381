package auth_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/auth"
)

func TestTokensSignVerifyAndExpire(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokens, err := auth.NewTokens(filepath.Join(dir, "keys", "k.pem"), "berth", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p := &auth.Principal{Kind: auth.KindUser, UserID: 7, Name: "dev"}
	access := []auth.ResourceActions{{Type: "repository", Name: "library/app", Actions: []string{"pull"}}}
	tok, err := tokens.Issue(p, access, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tokens.Verify(tok)
	if err != nil || c.UserID != 7 || c.Subject != "dev" || !c.Grants("repository", "library/app", "pull") || c.Grants("repository", "library/app", "push") {
		t.Fatalf("verify: %+v %v", c, err)
	}
	if c.Grants("repository", "library/other", "pull") {
		t.Fatal("a token granted another repository")
	}

	// The same key file serves another replica; another key does not verify.
	again, _ := auth.NewTokens(filepath.Join(dir, "keys", "k.pem"), "berth", time.Minute)
	if _, err := again.Verify(tok); err != nil {
		t.Fatalf("second replica with the same key: %v", err)
	}
	other, _ := auth.NewTokens(filepath.Join(t.TempDir(), "k.pem"), "berth", time.Minute)
	if _, err := other.Verify(tok); err != auth.ErrInvalidToken {
		t.Fatalf("another key verified the token: %v", err)
	}
	otherService, _ := auth.NewTokens(filepath.Join(dir, "keys", "k.pem"), "elsewhere", time.Minute)
	if _, err := otherService.Verify(tok); err != auth.ErrInvalidToken {
		t.Fatalf("a token for another audience verified: %v", err)
	}
	old, _ := tokens.Issue(p, nil, time.Now().Add(-2*time.Minute))
	if _, err := tokens.Verify(old); err != auth.ErrInvalidToken {
		t.Fatalf("an expired token verified: %v", err)
	}
	if _, err := tokens.Verify(tok + "x"); err != auth.ErrInvalidToken {
		t.Fatalf("a tampered token verified: %v", err)
	}
}

func TestPasswordRules(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{
		"", "Short1a", // 7 characters
		"Aa1" + strings.Repeat("x", 126),                // 129 characters
		"long-enough-1", "LONG-ENOUGH-1", "Long-enough", // no upper, no lower, no digit
		"Aa1\xff\xfe\xfd\xfc\xfb", // not UTF-8
	} {
		if _, err := auth.HashPassword(pw); !errors.Is(err, auth.ErrWeakPassword) {
			t.Errorf("HashPassword(%q) = %v; want ErrWeakPassword", pw, err)
		}
	}
	if !strings.Contains(auth.ErrWeakPassword.Error(), "8 to 128 characters") || !strings.Contains(auth.ErrWeakPassword.Error(), "upper-case") {
		t.Errorf("the rule's message does not state it: %q", auth.ErrWeakPassword)
	}
	// The boundaries are accepted; characters count, not bytes.
	for _, pw := range []string{"Long-en1", "Aa1" + strings.Repeat("x", 125), "Ää1" + strings.Repeat("é", 125), "Üppercase9"} {
		if _, err := auth.HashPassword(pw); err != nil {
			t.Errorf("HashPassword(len %d) = %v", len(pw), err)
		}
	}
	if p := auth.GeneratePassword(); auth.CheckPasswordRules(p) != nil {
		t.Errorf("a generated admin password breaks the rules: %q", p)
	}
}
