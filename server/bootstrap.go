package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/project"
)

// bootstrap makes a new installation usable: the first admin account, and the public project
// "library" with id 1, which Harbor scripts that name project 1 rely on. It changes nothing on a
// database that already has users or projects.
func bootstrap(ctx context.Context, db *ent.Client, adminPassword string, log *slog.Logger) error {
	users, err := db.User.Query().Count(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: count users: %w", err)
	}
	if users == 0 {
		generated := adminPassword == ""
		if generated {
			adminPassword = auth.GeneratePassword()
		}
		hash, err := auth.HashPassword(adminPassword)
		if err != nil {
			return fmt.Errorf("bootstrap: BERTH_ADMIN_PASSWORD: %w", err)
		}
		err = db.User.Create().SetUsername("admin").SetPasswordHash(hash).SetAdmin(true).SetFullName("System administrator").Exec(ctx)
		if err != nil && !ent.IsConstraintError(err) { // another replica created it first
			return fmt.Errorf("bootstrap: create admin: %w", err)
		}
		if err == nil && generated {
			// Printed once, on the terminal, never logged: it is the only time it can be read.
			fmt.Fprintf(os.Stderr, "\n  Berth admin account created.\n  username: admin\n  password: %s\n  (shown once: change it after logging in)\n\n", adminPassword)
		}
		if err == nil {
			log.Info("created the admin account", "username", "admin")
		}
	}

	projects, err := db.Project.Query().Count(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: count projects: %w", err)
	}
	if projects == 0 {
		// The first row of a fresh table takes id 1.
		err := db.Project.Create().SetName("library").SetPublic(true).Exec(ctx)
		if err != nil && !ent.IsConstraintError(err) {
			return fmt.Errorf("bootstrap: create project library: %w", err)
		}
		if err == nil {
			if p, err := db.Project.Query().Where(project.Name("library")).Only(ctx); err == nil && p.ID != 1 {
				log.Warn("project library did not get id 1", "id", p.ID)
			}
		}
	}
	return nil
}
