// Command berth is the whole Berth registry platform in one binary.
//
//	berth serve     serve the registry, GraphQL, REST and the dashboard (and run jobs)
//	berth worker    run background jobs only
//	berth migrate   bring the database schema up to date and exit
//	berth admin     administrative commands (reset-password, rotate-signing-key)
//	berth version   print the version
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	osuser "os/user"
	"strings"
	"syscall"

	"github.com/berth-registry/berth/advisory"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/user"
	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/telemetry"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `Berth: a container registry platform.

Usage:
  berth serve   [flags]            serve /v2, /graphql, /api/v2.0 and the dashboard
  berth worker  [flags]            run background jobs only
  berth migrate [flags]            apply database migrations and exit
  berth admin reset-password USER  set a user's password (read from BERTH_NEW_PASSWORD or stdin)
  berth admin rotate-signing-key   make a new token-signing key the one that signs (old ones verify until their tokens expire)
  berth advisories import PATH     load OSV advisories (JSON files, a directory, or osv.dev all.zip)
  berth version

Run "berth serve --help" for the settings; each flag also reads an environment variable.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = serve(ctx, args)
	case "worker":
		err = runWorker(ctx, args)
	case "migrate":
		err = migrate(ctx, args)
	case "admin":
		err = admin(ctx, args)
	case "advisories":
		err = advisories(ctx, args)
	case "version", "--version":
		fmt.Println("berth", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "berth: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth:", err)
		os.Exit(1)
	}
}

// config parses the shared flags for a subcommand.
func config(name string, args []string) (server.Config, *slog.Logger, []string, error) {
	fs := flag.NewFlagSet("berth "+name, flag.ContinueOnError)
	load := server.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return server.Config{}, nil, nil, err
	}
	cfg, err := load()
	if err != nil {
		return cfg, nil, nil, err
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	// A line logged inside a traced request or job names its trace and span.
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	return cfg, log, fs.Args(), nil
}

func serve(ctx context.Context, args []string) error {
	cfg, log, _, err := config("serve", args)
	if err != nil {
		return err
	}
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

func runWorker(ctx context.Context, args []string) error {
	cfg, log, _, err := config("worker", args)
	if err != nil {
		return err
	}
	return server.RunWorker(ctx, cfg, log, func() { log.Info("worker running") })
}

func migrate(ctx context.Context, args []string) error {
	cfg, log, _, err := config("migrate", args)
	if err != nil {
		return err
	}
	pool, _, db, err := server.Database(ctx, cfg, log)
	if err != nil {
		return err
	}
	db.Close()
	pool.Close()
	log.Info("database is up to date")
	return nil
}

func advisories(ctx context.Context, args []string) error {
	if len(args) < 2 || args[0] != "import" {
		return errors.New("usage: berth advisories import PATH [flags]")
	}
	cfg, log, _, err := config("advisories", args[2:])
	if err != nil {
		return err
	}
	pool, _, db, err := server.Database(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer pool.Close()
	defer db.Close()
	st, err := advisory.NewStore(pool).Import(ctx, args[1])
	if err != nil {
		return err
	}
	fmt.Printf("imported %d advisories (%d affected packages) from %d files; skipped %d\n", st.Advisories, st.Packages, st.Files, st.Skipped)
	return nil
}

func admin(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "rotate-signing-key" {
		return rotateSigningKey(ctx, args[1:])
	}
	if len(args) == 0 || args[0] != "reset-password" {
		return errors.New("usage: berth admin reset-password USER [flags] | berth admin rotate-signing-key [flags]")
	}
	cfg, log, rest, err := config("admin", args[1:])
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New("usage: berth admin reset-password USER [flags]")
	}
	password := os.Getenv("BERTH_NEW_PASSWORD")
	if password == "" {
		fmt.Fprint(os.Stderr, "new password: ")
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if err := auth.CheckPasswordRules(password); err != nil {
		return err
	}
	pool, _, db, err := server.Database(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer pool.Close()
	defer db.Close()
	u, err := db.User.Query().Where(user.Username(rest[0])).Only(ctx)
	if ent.IsNotFound(err) {
		return fmt.Errorf("no user named %q", rest[0])
	}
	if err != nil {
		return err
	}
	// As any password change, the reset ends the user's sessions and tokens.
	if err := auth.NewService(db, nil, 0).SetPassword(ctx, u.ID, password); err != nil {
		return err
	}
	if err := db.User.UpdateOneID(u.ID).SetDisabled(false).Exec(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "password of %s changed\n", rest[0])
	return nil
}

// rotateSigningKey is `berth admin rotate-signing-key`, audited as the operating-system user who
// ran it.
func rotateSigningKey(ctx context.Context, args []string) error {
	cfg, log, rest, err := config("admin", args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errors.New("usage: berth admin rotate-signing-key [flags]")
	}
	who := "berth admin (command line)"
	if u, err := osuser.Current(); err == nil {
		who += " " + u.Username
	}
	k, err := server.RotateSigningKey(ctx, cfg, log, who)
	if err != nil {
		return err
	}
	fmt.Printf("new signing key %s; every replica signs with it within %s\n", k.ID, cfg.KeyRefresh)
	return nil
}
