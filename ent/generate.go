// Package ent holds Berth's data model. Everything here but schema/ and entc.go is generated
// by `make generate`; edit the schema, never the generated files.
package ent

//go:generate go run -mod=mod entc.go
