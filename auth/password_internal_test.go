package auth

import (
	"strings"
	"testing"
)

// A password longer than bcrypt's 72 bytes keeps every character significant.
func TestLongPasswordsDifferAfter72Bytes(t *testing.T) {
	t.Parallel()
	long := "Aa1" + strings.Repeat("x", 100)
	hash, err := HashPassword(long + "y")
	if err != nil {
		t.Fatal(err)
	}
	if !checkPassword(hash, long+"y") || checkPassword(hash, long+"z") || checkPassword(hash, long[:72]) {
		t.Fatal("a long password is not compared whole")
	}
}
