package webhook

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/berth-registry/berth/event"
)

// harborTypes names Berth's events the way Harbor's webhooks do, for receivers written for Harbor.
// Events Harbor has no name for keep Berth's.
var harborTypes = map[event.Type]string{
	event.ArtifactPushed:     "PUSH_ARTIFACT",
	event.ArtifactPulled:     "PULL_ARTIFACT",
	event.ArtifactDeleted:    "DELETE_ARTIFACT",
	event.QuotaWarning:       "QUOTA_WARNING",
	event.QuotaExceeded:      "QUOTA_EXCEED",
	event.RetentionCompleted: "TAG_RETENTION",
}

// repoInfo is what a payload says about the event's repository, read when the event is dispatched.
type repoInfo struct {
	public      bool
	dateCreated time.Time
}

type harborResource struct {
	Digest      string `json:"digest,omitempty"`
	Tag         string `json:"tag,omitempty"`
	ResourceURL string `json:"resource_url,omitempty"`
}

type harborRepository struct {
	Name         string `json:"name"`
	Namespace    string `json:"namespace"`
	RepoFullName string `json:"repo_full_name"`
	RepoType     string `json:"repo_type"`
	DateCreated  int64  `json:"date_created,omitempty"`
}

type harborEventData struct {
	Resources  []harborResource  `json:"resources"`
	Repository *harborRepository `json:"repository,omitempty"`
	Count      int64             `json:"count,omitempty"`
}

type harborPayload struct {
	Type      string          `json:"type"`
	OccurAt   int64           `json:"occur_at"`
	Operator  string          `json:"operator"`
	EventData harborEventData `json:"event_data"`
}

// harborBody is the payload of Harbor's default webhook format (harbor-compat §7).
func harborBody(e event.Event, repo repoInfo, registryHost string) harborPayload {
	typ, ok := harborTypes[e.Type]
	if !ok {
		typ = string(e.Type)
	}
	data := harborEventData{Resources: []harborResource{}}
	if e.Count > 1 {
		data.Count = e.Count
	}
	if e.Repository != "" {
		res := harborResource{Digest: e.Digest, Tag: e.Tag}
		switch {
		case e.Tag != "":
			res.ResourceURL = registryHost + "/" + e.Repository + ":" + e.Tag
		case e.Digest != "":
			res.ResourceURL = registryHost + "/" + e.Repository + "@" + e.Digest
		}
		data.Resources = append(data.Resources, res)
		namespace, name, _ := strings.Cut(e.Repository, "/")
		repoType := "private"
		if repo.public {
			repoType = "public"
		}
		data.Repository = &harborRepository{Name: name, Namespace: namespace, RepoFullName: e.Repository, RepoType: repoType}
		if !repo.dateCreated.IsZero() {
			data.Repository.DateCreated = repo.dateCreated.Unix()
		}
	}
	return harborPayload{Type: typ, OccurAt: e.OccurredAt.Unix(), Operator: e.Operator, EventData: data}
}

// cloudEvent is a CloudEvents 1.0 event in structured JSON mode.
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Operator        string          `json:"operator"`
	Data            harborEventData `json:"data"`
}

// cloudEventsBody wraps the same data in a CloudEvents envelope; the type is reverse-DNS, e.g.
// "dev.berth.artifact.pushed".
func cloudEventsBody(id string, e event.Event, repo repoInfo, registryHost string) cloudEvent {
	h := harborBody(e, repo, registryHost)
	return cloudEvent{
		SpecVersion: "1.0", ID: id, Source: "/projects/" + e.ProjectName,
		Type:    "dev.berth." + strings.ToLower(strings.Replace(string(e.Type), "_", ".", 1)),
		Subject: e.Repository, Time: e.OccurredAt.UTC().Format(time.RFC3339Nano),
		DataContentType: "application/json", Operator: e.Operator, Data: h.EventData,
	}
}

// Body renders the payload of e in format ("HARBOR" or "CLOUDEVENTS").
func Body(format, id string, e event.Event, repo repoInfo, registryHost string) ([]byte, error) {
	if format == "CLOUDEVENTS" {
		return json.Marshal(cloudEventsBody(id, e, repo, registryHost))
	}
	return json.Marshal(harborBody(e, repo, registryHost))
}
