package server_test

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// rpmPackage is what rpmHeader writes into a header blob.
type rpmPackage struct {
	name, version, release, arch, sourceRPM, license string
	epoch                                            int32
}

// rpmHeader encodes p as an rpm header blob as the rpm database stores it: entry count and data
// length, then (tag, type, offset, count) entries, big-endian, then the data. Epoch (an int32)
// comes first so no string needs alignment padding.
func rpmHeader(p rpmPackage) []byte {
	const (
		tagName, tagVersion, tagRelease, tagEpoch, tagLicense, tagArch, tagSourceRPM = 1000, 1001, 1002, 1003, 1014, 1022, 1044
		typeInt32, typeString                                                        = 4, 6
	)
	type entry struct {
		tag, typ int32
		data     []byte
	}
	epoch := make([]byte, 4)
	binary.BigEndian.PutUint32(epoch, uint32(p.epoch))
	str := func(s string) []byte { return append([]byte(s), 0) }
	entries := []entry{
		{tagEpoch, typeInt32, epoch},
		{tagName, typeString, str(p.name)},
		{tagVersion, typeString, str(p.version)},
		{tagRelease, typeString, str(p.release)},
		{tagLicense, typeString, str(p.license)},
		{tagArch, typeString, str(p.arch)},
		{tagSourceRPM, typeString, str(p.sourceRPM)},
	}
	var index, data bytes.Buffer
	for _, e := range entries {
		_ = binary.Write(&index, binary.BigEndian, []int32{e.tag, e.typ, int32(data.Len()), 1})
		data.Write(e.data)
	}
	var out bytes.Buffer
	_ = binary.Write(&out, binary.BigEndian, []int32{int32(len(entries)), int32(data.Len())})
	out.Write(index.Bytes())
	out.Write(data.Bytes())
	return out.Bytes()
}

// rpmDatabase writes an rpmdb.sqlite (the format of RHEL 9 and its rebuilds) holding pkgs.
func rpmDatabase(t *testing.T, pkgs ...rpmPackage) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rpmdb.sqlite")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		if _, err := db.Exec("INSERT INTO Packages (blob) VALUES (?)", rpmHeader(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuiltinScannerReadsRPMDatabase(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *server.Config) { c.AdvisoryDir = osvFixtures })
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	rpmdb := rpmDatabase(t,
		rpmPackage{name: "openssl-libs", version: "3.0.7", release: "24.el9", epoch: 1, arch: "x86_64", sourceRPM: "openssl-3.0.7-24.el9.src.rpm", license: "ASL 2.0"},
		rpmPackage{name: "bash", version: "5.1.8", release: "6.el9_1", arch: "x86_64", sourceRPM: "bash-5.1.8-6.el9_1.src.rpm", license: "GPLv3+"})
	l := buildLayer(t,
		layerEntry{name: "etc/os-release", content: "NAME=\"Rocky Linux\"\nID=\"rocky\"\nVERSION_ID=\"9.3\"\n"},
		layerEntry{name: "var/lib/rpm/rpmdb.sqlite", content: string(rpmdb)})
	if out, err := crane("append", "-f", l, "-t", env.Host+"/library/rocky:9"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	id := artifactIDOf(t, env, crane, env.Host+"/library/rocky:9")
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { scanArtifact(id: $id) { id } }`, map[string]any{"id": id}, nil)
	r := ref{"library/rocky", "9"}
	if o := waitScan(t, env, r); o.Status != "SUCCESS" || o.Total != 1 || o.Severity != "HIGH" {
		t.Fatalf("Rocky overview: %+v", o)
	}
	want := "CVE-2023-3817 openssl-libs 1:3.0.7-24.el9 1:3.0.7-25.el9_3 HIGH"
	if got := findings(t, env, r, nil); strings.Join(got, "\n") != want {
		t.Errorf("Rocky findings: %v, want %s", got, want)
	}
}
