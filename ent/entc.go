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
		entgql.WithSchemaHook(dropNodeQueries, declareMap),
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
// The Query type is declared in graph/schema/berth.graphqls instead.
func dropNodeQueries(_ *gen.Graph, s *ast.Schema) error {
	delete(s.Types, "Query")
	return nil
}

// declareMap declares the Map scalar that the annotations field is typed as.
func declareMap(_ *gen.Graph, s *ast.Schema) error {
	s.Types["Map"] = &ast.Definition{Kind: ast.Scalar, Name: "Map", Description: "A JSON object, such as OCI annotations."}
	return nil
}
