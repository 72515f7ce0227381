// Package kubernetes holds the reference deployment's manifests; its test checks them offline.
package kubernetes

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/berth-registry/berth/server"
)

// manifests are the decoded documents of every *.yaml file here, strictly: a field the Kubernetes
// API types do not have (a typo, a wrong level) fails, as kubeconform would without its schemas.
type manifests struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	pdbs        []*policyv1.PodDisruptionBudget
}

func load(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	m := manifests{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			var head struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal(doc, &head); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			var obj any
			switch head.APIVersion + " " + head.Kind {
			case "apps/v1 Deployment":
				d := &appsv1.Deployment{}
				m.deployments, obj = append(m.deployments, d), d
			case "v1 Service":
				s := &corev1.Service{}
				m.services, obj = append(m.services, s), s
			case "v1 ConfigMap":
				obj = &corev1.ConfigMap{}
			case "v1 Secret":
				obj = &corev1.Secret{}
			case "policy/v1 PodDisruptionBudget":
				p := &policyv1.PodDisruptionBudget{}
				m.pdbs, obj = append(m.pdbs, p), p
			default:
				t.Fatalf("%s document %d: unexpected %s %s", f, i, head.APIVersion, head.Kind)
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s document %d (%s): %v", f, i, head.Kind, err)
			}
			switch o := obj.(type) {
			case *corev1.ConfigMap:
				m.configMaps[o.Name] = o
			case *corev1.Secret:
				m.secrets[o.Name] = o
			}
		}
	}
	return m
}

func TestManifests(t *testing.T) {
	m := load(t)
	if len(m.deployments) != 2 {
		t.Fatalf("%d deployments, want berth-serve and berth-worker", len(m.deployments))
	}
	for _, d := range m.deployments {
		sel := d.Spec.Selector.MatchLabels
		for k, v := range sel {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("%s: selector %s=%s does not match its pod template", d.Name, k, v)
			}
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
			t.Errorf("%s: want at least 2 replicas", d.Name)
		}
		volumes := map[string]corev1.Volume{}
		for _, v := range d.Spec.Template.Spec.Volumes {
			volumes[v.Name] = v
			if v.ConfigMap != nil && m.configMaps[v.ConfigMap.Name] == nil {
				t.Errorf("%s: volume %s names a missing ConfigMap %s", d.Name, v.Name, v.ConfigMap.Name)
			}
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.ReadinessProbe == nil || c.LivenessProbe == nil {
				t.Errorf("%s/%s: want readiness and liveness probes", d.Name, c.Name)
			}
			for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
				if p != nil && p.HTTPGet != nil && !hasPort(c, p.HTTPGet.Port.String()) {
					t.Errorf("%s/%s: a probe names port %s, which the container does not have", d.Name, c.Name, p.HTTPGet.Port.String())
				}
			}
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := c.Resources.Requests[r]; !ok {
					t.Errorf("%s/%s: no %s request", d.Name, c.Name, r)
				}
				if _, ok := c.Resources.Limits[r]; !ok {
					t.Errorf("%s/%s: no %s limit", d.Name, c.Name, r)
				}
			}
			for _, e := range c.EnvFrom {
				if e.SecretRef != nil && m.secrets[e.SecretRef.Name] == nil {
					t.Errorf("%s/%s: envFrom names a missing Secret %s", d.Name, c.Name, e.SecretRef.Name)
				}
			}
			for _, e := range c.Env {
				if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil {
					s := m.secrets[r.SecretKeyRef.Name]
					if _, ok := s.StringData[r.SecretKeyRef.Key]; s == nil || !ok {
						t.Errorf("%s/%s: %s names missing secret key %s/%s", d.Name, c.Name, e.Name, r.SecretKeyRef.Name, r.SecretKeyRef.Key)
					}
				}
			}
			for _, vm := range c.VolumeMounts {
				if _, ok := volumes[vm.Name]; !ok {
					t.Errorf("%s/%s: mount of a missing volume %s", d.Name, c.Name, vm.Name)
				}
			}
			if len(c.Args) == 0 || (c.Args[0] != "serve" && c.Args[0] != "worker") {
				t.Errorf("%s/%s: args %v, want serve or worker", d.Name, c.Name, c.Args)
			}
		}
	}
	for _, s := range m.services {
		if !selectsSome(s.Spec.Selector, m.deployments) {
			t.Errorf("service %s selects no deployment's pods", s.Name)
		}
	}
	for _, p := range m.pdbs {
		if !selectsSome(p.Spec.Selector.MatchLabels, m.deployments) {
			t.Errorf("PodDisruptionBudget %s selects no deployment's pods", p.Name)
		}
	}
	// Berth's own configuration in the ConfigMap is one `berth serve --config` accepts.
	cm := m.configMaps["berth-config"]
	if cm == nil || cm.Data["berth.yaml"] == "" {
		t.Fatal("no berth-config ConfigMap with berth.yaml")
	}
	file := filepath.Join(t.TempDir(), "berth.yaml")
	if err := os.WriteFile(file, []byte(cm.Data["berth.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	loadCfg := server.Flags(fs)
	if err := fs.Parse([]string{"--config", file}); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadCfg()
	if err != nil {
		t.Fatalf("berth.yaml: %v", err)
	}
	if cfg.Storage["s3"] == nil || cfg.RunJobs {
		t.Errorf("berth.yaml: storage %v, run_jobs %v; want s3 and jobs left to workers", cfg.Storage, cfg.RunJobs)
	}
	for _, k := range []string{"DATABASE_URL", "REDIS_URL"} {
		if !strings.Contains(m.secrets["berth-secrets"].StringData[k], "://") {
			t.Errorf("berth-secrets has no %s", k)
		}
	}
}

func hasPort(c corev1.Container, name string) bool {
	for _, p := range c.Ports {
		if p.Name == name || p.String() == name {
			return true
		}
	}
	return false
}

func selectsSome(sel map[string]string, ds []*appsv1.Deployment) bool {
	for _, d := range ds {
		ok := len(sel) > 0
		for k, v := range sel {
			if d.Spec.Template.Labels[k] != v {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}
