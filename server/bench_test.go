package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/server/servertest"
)

// BenchmarkManifestGet measures authenticated manifest GETs by tag through the whole stack (token
// verification, permission check, Distribution, pull recording), clients in parallel.
func BenchmarkManifestGet(b *testing.B) {
	env := servertest.Start(b)
	benchPush(b, env)
	token := benchToken(b, env, "repository:library/bench:pull")
	url := env.URL + "/v2/library/bench/manifests/v1"
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// BenchmarkGraphQLProjectPage measures one dashboard page: 25 projects with counts and roles.
func BenchmarkGraphQLProjectPage(b *testing.B) {
	env := servertest.Start(b)
	for i := range 30 {
		env.DB.Project.Create().SetName(fmt.Sprintf("bench%02d", i)).ExecX(b.Context())
	}
	token := benchToken(b, env, "")
	body := `{"query":"{ projects(first: 25) { totalCount edges { node { name public repositoryCount myRole } } } }"}`
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func benchPush(b testing.TB, env *servertest.Env) {
	b.Helper()
	crane := servertest.Tool(b, "crane")
	dir := b.TempDir()
	vars := []string{"DOCKER_CONFIG=" + dir}
	servertest.Run(b, vars, crane, "auth", "login", env.Host, "-u", "admin", "-p", servertest.AdminPassword, "--insecure")
	servertest.Run(b, vars, "sh", "-c", "echo bench > "+dir+"/f && tar -C "+dir+" -cf "+dir+"/l.tar f")
	servertest.Run(b, vars, crane, "append", "--insecure", "-f", dir+"/l.tar", "-t", env.Host+"/library/bench:v1")
}

func benchToken(b testing.TB, env *servertest.Env, scope string) string {
	b.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/service/token?service=berth&scope="+scope, nil)
	req.SetBasicAuth("admin", servertest.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		b.Fatal(err)
	}
	return out.Token
}
