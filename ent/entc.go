//go:build ignore

// entc.go generates the ent client and the GraphQL schema for it. Run it with `make generate`.
package main

import (
	"log"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"github.com/vektah/gqlparser/v2/ast"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("../graph/schema/ent.graphqls"),
		entgql.WithConfigPath("../gqlgen.yml"),
		entgql.WithWhereInputs(true),
		entgql.WithRelaySpec(true),
		entgql.WithSchemaHook(dropNodeQueries, declareScalars, leaveOutAccessories),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	opts := []entc.Option{entc.Extensions(ex)}
	cfg := &gen.Config{
		Features: []gen.Feature{gen.FeatureVersionedMigration, gen.FeatureLock, gen.FeatureUpsert, gen.FeatureExecQuery, gen.FeatureModifier},
	}
	if err := entc.Generate("./schema", cfg, opts...); err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}

// dropNodeQueries removes the Relay node and nodes queries that entgql adds: they would look
// any object up by id without the per-project permission checks that Berth's own queries make.
// The Query type is declared in graph/schema/viewer.graphqls instead.
func dropNodeQueries(_ *gen.Graph, s *ast.Schema) error {
	delete(s.Types, "Query")
	return nil
}

// declareScalars declares the scalars the generated types use. entgql leaves out a scalar it
// finds already declared in the schema files it loads, and the file it is about to overwrite is
// one of them, so without this every other run would drop them.
func declareScalars(_ *gen.Graph, s *ast.Schema) error {
	for name, doc := range map[string]string{
		"Map":    "A JSON object, such as OCI annotations.",
		"Time":   "An RFC 3339 timestamp.",
		"Cursor": "An opaque pagination cursor.",
	} {
		s.Types[name] = &ast.Definition{Kind: ast.Scalar, Name: name, Description: doc}
	}
	return nil
}

// leaveOutAccessories makes Repository.artifacts leave accessories (signatures, attestations, SBOMs,
// referrers) out unless where says otherwise: they are shown under their subject. A default of the
// argument, rather than a resolver of our own, keeps the nested lists loaded in one query per level.
func leaveOutAccessories(_ *gen.Graph, s *ast.Schema) error {
	where := s.Types["Repository"].Fields.ForName("artifacts").Arguments.ForName("where")
	where.DefaultValue = &ast.Value{Kind: ast.ObjectValue, Children: ast.ChildValueList{
		{Name: "accessory", Value: &ast.Value{Kind: ast.BooleanValue, Raw: "false"}},
	}}
	return nil
}
