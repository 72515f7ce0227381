package endpoint_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-registry/berth/endpoint"
)

// A credential is sealed with the instance's key (BERTH_SECRET_KEY, or a key file generated once
// in the data directory) before it is stored, and opened only to talk to the registry.
func ExampleSealer() {
	dir, _ := os.MkdirTemp("", "keys")
	defer os.RemoveAll(dir)
	sealer, err := endpoint.LoadSealer("", filepath.Join(dir, "secret.key"))
	if err != nil {
		panic(err)
	}
	stored := sealer.Seal([]byte("robot-secret"), "registry-endpoint-credential")
	plain, err := sealer.Open(stored, "registry-endpoint-credential")
	fmt.Println(string(plain), err)
	// Output: robot-secret <nil>
}
