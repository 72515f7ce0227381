package export

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// csvFile writes an export's CSV to w while counting its rows and bytes and hashing it, so the
// execution can record them without reading the file back.
type csvFile struct {
	out  *csv.Writer
	sum  hash.Hash
	size int64
	rows int64
}

func newCSVFile(w io.Writer) (*csvFile, error) {
	f := &csvFile{sum: sha256.New()}
	// csv.Writer adopts a large enough bufio.Writer as its own buffer: the storage then gets
	// writes of 256 KiB rather than 4 KiB.
	f.out = csv.NewWriter(bufio.NewWriterSize(io.MultiWriter(w, f.sum, (*counter)(&f.size)), 256<<10))
	if err := f.out.Write(header); err != nil {
		return nil, fmt.Errorf("write CSV header: %w", err)
	}
	return f, nil
}

// write adds one row, guarding every cell against formula injection.
func (f *csvFile) write(record []string) error {
	for i, cell := range record {
		record[i] = guard(cell)
	}
	if err := f.out.Write(record); err != nil {
		return err
	}
	f.rows++
	return nil
}

// flush writes what is buffered; after it, size and digest cover everything written.
func (f *csvFile) flush() error {
	f.out.Flush()
	return f.out.Error()
}

func (f *csvFile) digest() string { return "sha256:" + hex.EncodeToString(f.sum.Sum(nil)) }

// guard defuses a cell that a spreadsheet would run as a formula (it starts with = + - @, a tab
// or a carriage return) by prefixing a single quote, as OWASP recommends.
func guard(cell string) string {
	if cell != "" {
		switch cell[0] {
		case '=', '+', '-', '@', '\t', '\r':
			return "'" + cell
		}
	}
	return cell
}

type counter int64

func (c *counter) Write(p []byte) (int, error) {
	*c += counter(len(p))
	return len(p), nil
}

// WriteCSV runs p's query through a PostgreSQL cursor and streams every row into w as CSV,
// header first, calling progress (if not nil) every progressEvery rows. Rows are fetched a batch
// at a time and written at once: memory does not grow with the export. It returns the rows
// written, the bytes and the sha256 digest of what it wrote.
func WriteCSV(ctx context.Context, pool *pgxpool.Pool, p Params, w io.Writer, progress func(rows int64) error) (rows, size int64, digest string, err error) {
	f, err := newCSVFile(w)
	if err != nil {
		return 0, 0, "", err
	}
	// One read-only snapshot for the whole file, however many fetches it takes.
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, 0, "", fmt.Errorf("begin export query: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only: nothing to undo
	// The whole result is wanted: plan for total time, not for the first rows (the cursor default).
	query, args := p.Query()
	if _, err := tx.Exec(ctx, "SET LOCAL cursor_tuple_fraction = 1"); err != nil {
		return 0, 0, "", fmt.Errorf("prepare export query: %w", err)
	}
	if _, err := tx.Exec(ctx, "DECLARE export_rows NO SCROLL CURSOR FOR "+query, args...); err != nil {
		return 0, 0, "", fmt.Errorf("run export query: %w", err)
	}
	record := make([]string, len(header))
	ptrs := make([]any, len(header))
	for i := range record {
		ptrs[i] = &record[i]
	}
	for {
		if err := ctx.Err(); err != nil { // stopped
			return f.rows, f.size, "", err
		}
		res, err := tx.Query(ctx, fmt.Sprintf("FETCH %d FROM export_rows", fetchSize))
		if err != nil {
			return f.rows, f.size, "", fmt.Errorf("fetch export rows: %w", err)
		}
		fetched := 0
		for res.Next() {
			fetched++
			if err := res.Scan(ptrs...); err != nil {
				res.Close()
				return f.rows, f.size, "", fmt.Errorf("read export row: %w", err)
			}
			if err := f.write(record); err != nil {
				res.Close()
				return f.rows, f.size, "", fmt.Errorf("write CSV row %d: %w", f.rows+1, err)
			}
			if progress != nil && f.rows%progressEvery == 0 {
				if err := progress(f.rows); err != nil {
					res.Close()
					return f.rows, f.size, "", err
				}
			}
		}
		if err := res.Err(); err != nil {
			return f.rows, f.size, "", fmt.Errorf("fetch export rows: %w", err)
		}
		if fetched < fetchSize {
			break
		}
	}
	if err := f.flush(); err != nil {
		return f.rows, f.size, "", fmt.Errorf("write CSV: %w", err)
	}
	if err := ctx.Err(); err != nil { // stopped while the last rows were written
		return f.rows, f.size, "", err
	}
	return f.rows, f.size, f.digest(), nil
}

// fetchSize is how many rows one FETCH brings: a few MiB at most.
const fetchSize = 5000

// progressEvery is how many rows pass between progress calls.
const progressEvery = 10000
