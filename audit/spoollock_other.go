//go:build !unix

package audit

import "os"

// lockDir opens the lock file; on this system nothing stops a second process from using the
// same spool, so give each process its own directory.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
}
