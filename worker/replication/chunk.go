package replication

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
)

// ChunkSize is the most a policy with copy_by_chunk sends in one request: a blob larger than it
// is uploaded in PATCH requests of ChunkSize (Distribution's chunked upload), for remotes or
// proxies that refuse or cut large request bodies.
const ChunkSize = 10 << 20

// putBlobChunked uploads blob d of size bytes to repo on the remote in chunks: HEAD first (a blob
// there is not sent), then a cross-repository mount from mountFrom when given, then POST, one
// PATCH per chunk (each to the location the previous answer named) and the closing PUT with the
// digest, which the remote checks.
func (f *far) putBlobChunked(ctx context.Context, repo string, d digest.Digest, size int64, open func() (io.ReadCloser, error), mountFrom string) (int64, error) {
	rp, err := f.r.Repository(repo)
	if err != nil {
		return 0, err
	}
	scopes := []string{rp.Scope(transport.PushScope)}
	if mountFrom != "" && mountFrom != repo {
		if from, err := f.r.Repository(mountFrom); err == nil {
			scopes = append(scopes, from.Scope(transport.PullScope))
		}
	}
	rt, err := f.r.Transport(ctx, scopes...)
	if err != nil {
		return 0, err
	}
	client := &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, u string, body io.Reader, n int64, hdr map[string]string, want ...int) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, u, body)
		if err != nil {
			return nil, err
		}
		if body != nil {
			req.ContentLength = n
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		if err := transport.CheckError(resp, want...); err != nil {
			resp.Body.Close()
			return nil, err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		return resp, nil
	}
	base := f.r.URL("/v2/" + rp.RepositoryStr() + "/blobs/")
	if _, err := do(http.MethodHead, base+d.String(), nil, 0, nil, http.StatusOK); err == nil {
		return 0, nil
	} else if !isNotFound(err) {
		return 0, err
	}
	start := base + "uploads/"
	if len(scopes) > 1 {
		from, _ := f.r.Repository(mountFrom)
		start += "?mount=" + url.QueryEscape(d.String()) + "&from=" + url.QueryEscape(from.RepositoryStr())
	}
	resp, err := do(http.MethodPost, start, nil, 0, nil, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode == http.StatusCreated {
		return 0, nil // mounted
	}
	loc, err := nextLocation(resp)
	if err != nil {
		return 0, err
	}
	rc, err := open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	var sent int64
	for sent < size {
		n := min(ChunkSize, size-sent)
		resp, err := do(http.MethodPatch, loc, io.LimitReader(rc, n), n, map[string]string{
			"Content-Type":  "application/octet-stream",
			"Content-Range": fmt.Sprintf("%d-%d", sent, sent+n-1),
		}, http.StatusAccepted, http.StatusNoContent)
		if err != nil {
			return sent, fmt.Errorf("upload chunk at %d of blob %s: %w", sent, d, err)
		}
		sent += n
		if loc, err = nextLocation(resp); err != nil {
			return sent, err
		}
	}
	u, err := url.Parse(loc)
	if err != nil {
		return sent, err
	}
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	if _, err := do(http.MethodPut, u.String(), nil, 0, nil, http.StatusCreated); err != nil {
		return sent, fmt.Errorf("commit blob %s: %w", d, err)
	}
	return sent, nil
}

// nextLocation is the absolute upload location an upload answer names.
func nextLocation(resp *http.Response) (string, error) {
	l := resp.Header.Get("Location")
	if l == "" {
		return "", fmt.Errorf("the registry answered %s without an upload location", resp.Status)
	}
	u, err := resp.Request.URL.Parse(l)
	if err != nil {
		return "", fmt.Errorf("upload location %q: %w", l, err)
	}
	return u.String(), nil
}
