// Package ui embeds the dashboard built by Vite into the binary. The Go side only serves these
// files; everything the dashboard shows comes from the GraphQL API.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Files returns the built dashboard. It holds only .gitkeep until `make build` (or `npm run build`
// in ui/) has run, which Built reports.
func Files() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embed pattern above guarantees the folder exists
	}
	return sub
}

// Built reports whether the embedded files include the dashboard's index.html.
func Built() bool {
	_, err := fs.Stat(Files(), "index.html")
	return err == nil
}
