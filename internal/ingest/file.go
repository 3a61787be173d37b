package ingest

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/areas"
	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/presence"
)

// Loader loads files of presence records into PostGIS.
type Loader struct {
	Pool *pgxpool.Pool
	// Validator checks rows; nil: presence.NewValidator (the embedded
	// ISTAT municipalities).
	Validator *presence.Validator
}

// Options tune one load.
type Options struct {
	Format presence.Format // FormatAuto: from the file name or content
	// SkipInvalid loads the valid rows of a file with invalid ones, and
	// writes the invalid ones to FILE.rejects.csv. Without it a file with
	// any invalid row is rejected whole.
	SkipInvalid bool
	// MaxErrors bounds the row errors kept in Result.Errors (default 100);
	// all are counted.
	MaxErrors int
	// Progress, if set, is called every progressEvery rows and at the end
	// of each phase, from the loading goroutine.
	Progress func(Progress)
}

// Progress reports how far a load is.
type Progress struct {
	Phase string // "validate" (pass 1) or "load" (pass 2, COPY)
	Rows  int64  // rows read in this phase
	Bytes int64  // bytes of the file read in this phase
	Total int64  // size of the file
	Done  bool   // the phase is over
}

const progressEvery = 1024

// Result describes a load.
type Result struct {
	File     string
	Checksum string // sha256 of the file's content (decompressed, for a gzip file), hex
	Batch    int64  // ingest_batch id (0 when nothing was recorded)
	// Duplicate: a committed batch with this checksum existed; nothing
	// was written.
	Duplicate bool
	Rows      int64 // rows read
	Loaded    int64 // rows written (0 unless the batch was committed)
	Rejected  int64 // invalid rows
	Weight    int64 // people the loaded rows stand for
	From, To  time.Time
	// Errors are the first Options.MaxErrors invalid rows.
	Errors []*presence.RowError
	// Rejects is the rejects file written (SkipInvalid with invalid rows).
	Rejects  string
	Duration time.Duration
}

// InvalidError is a file rejected whole for its invalid rows.
type InvalidError struct {
	File   string
	Count  int64                // invalid rows
	Errors []*presence.RowError // the first few
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("%s: %d invalid rows: nothing loaded (--skip-invalid loads the valid rows)", e.File, e.Count)
}

// RejectsPath is where a load with SkipInvalid writes a file's invalid rows.
func RejectsPath(file string) string { return file + ".rejects.csv" }

// LoadFile loads one file as one batch. Pass 1 reads and validates it
// whole and takes its checksum; nothing is written if the checksum was
// loaded before (Result.Duplicate) or, without SkipInvalid, if any row is
// invalid (*InvalidError, and a rejected batch is recorded). Pass 2 reads
// it again and streams the valid rows to COPY in one transaction with the
// batch row and its NOTIFY: a load interrupted at any point leaves nothing.
func (l *Loader) LoadFile(ctx context.Context, path string, opt Options) (*Result, error) {
	start := time.Now()
	if opt.MaxErrors <= 0 {
		opt.MaxErrors = 100
	}
	if l.Validator == nil {
		l.Validator = presence.NewValidator()
	}
	if l.Validator.Towns == nil {
		// records must lie in a town: the towns of the database, read once
		ix, err := townIndex(ctx, l.Pool)
		if err != nil {
			return &Result{File: path}, err
		}
		v := *l.Validator
		v.Towns = ix
		l.Validator = &v
	}
	res := &Result{File: path}
	p1, err := l.validate(ctx, path, opt, res)
	if p1 != nil && p1.rejects != nil {
		defer os.Remove(p1.rejects.Name()) // nothing left behind unless renamed
	}
	if err != nil {
		return res, err
	}
	b := &batchRow{source: filepath.Base(path), checksum: res.Checksum, started: start,
		read: res.Rows, loaded: res.Loaded, rejected: res.Rejected, weight: res.Weight, from: res.From, to: res.To}
	if dup, err := l.loaded(ctx, res.Checksum); err != nil || dup {
		res.Duplicate = dup
		res.Loaded, res.Weight = 0, 0
		return res, err
	}
	if p1.fatal != nil || res.Rejected > 0 && !opt.SkipInvalid || res.Loaded == 0 {
		var fail error
		switch {
		case p1.fatal != nil:
			fail = p1.fatal
			b.message = p1.fatal.Error()
		case res.Loaded == 0 && res.Rejected == 0:
			fail = fmt.Errorf("%s: no records", path)
			b.message = "no records"
		case res.Loaded == 0:
			fail = &InvalidError{File: path, Count: res.Rejected, Errors: res.Errors}
			b.message = fmt.Sprintf("no valid rows; %d invalid, the first: %v", res.Rejected, res.Errors[0])
		default:
			fail = &InvalidError{File: path, Count: res.Rejected, Errors: res.Errors}
			b.message = fmt.Sprintf("%d invalid rows, the first: %v", res.Rejected, res.Errors[0])
		}
		if res.Loaded == 0 && res.Rejected > 0 && opt.SkipInvalid {
			if err := l.keepRejects(p1, res); err != nil {
				return res, err
			}
		}
		b.loaded, b.weight = 0, 0
		res.Loaded, res.Weight = 0, 0
		if res.Batch, err = l.recordRejected(ctx, b); err != nil {
			return res, errors.Join(fail, err)
		}
		return res, fail
	}
	if err := l.copyFile(ctx, path, opt, res, b, p1); err != nil {
		return res, err
	}
	if opt.SkipInvalid && res.Rejected > 0 {
		if err := l.keepRejects(p1, res); err != nil {
			return res, fmt.Errorf("%s: loaded, but: %w", path, err)
		}
	}
	res.Duration = time.Since(start)
	return res, nil
}

// pass1 is what validation learnt of a file.
type pass1 struct {
	span    span
	fatal   error    // a fault that ends the file (*presence.SyntaxError)
	rejects *os.File // invalid rows (SkipInvalid), a temporary file
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// reading is one pass over a file: its reader, the bytes and the hash.
type reading struct {
	f    *os.File
	cnt  *counter
	sum  hash.Hash
	tee  io.Reader
	rd   *presence.Reader
	size int64
}

func (l *Loader) open(path string, format presence.Format) (*reading, error) {
	r, err := openContent(path)
	if err != nil {
		return nil, err
	}
	// FormatAuto decides from the name (without .gz), else from the first
	// bytes: the same in both passes.
	r.rd, err = presence.NewReader(path, r.tee, format, l.Validator)
	if err != nil {
		r.f.Close()
		return nil, err
	}
	return r, nil
}

// openContent opens a file for reading its content: through gzip when it
// is gzip-compressed (by its first bytes, whatever its name). The hash and
// the rows are of the content; the counter counts the file's bytes (the
// progress of a compressed file is that of its compressed bytes).
func openContent(path string) (*reading, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	r := &reading{f: f, cnt: &counter{r: f}, sum: sha256.New(), size: st.Size()}
	br := bufio.NewReaderSize(r.cnt, 64<<10)
	var content io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: not a valid gzip file: %w", path, err)
		}
		content = zr
	}
	r.tee = io.TeeReader(content, r.sum)
	return r, nil
}

// checksum reads what the reader left of the file into the hash and
// returns the sha256 of the file's content.
func (r *reading) checksum() (string, error) {
	if _, err := io.Copy(io.Discard, r.tee); err != nil {
		return "", err
	}
	return hex.EncodeToString(r.sum.Sum(nil)), nil
}

func fileChecksum(path string) (string, error) {
	r, err := openContent(path)
	if err != nil {
		return "", err
	}
	defer r.f.Close()
	return r.checksum()
}

// validate is pass 1.
func (l *Loader) validate(ctx context.Context, path string, opt Options, res *Result) (*pass1, error) {
	p := &pass1{}
	r, err := l.open(path, opt.Format)
	var se *presence.SyntaxError
	if errors.As(err, &se) {
		// a bad header: the file is rejected, its checksum recorded
		p.fatal = err
		res.Checksum, err = fileChecksum(path)
		return p, err
	}
	if err != nil {
		return p, err
	}
	defer r.f.Close()
	var w *csv.Writer
	if opt.SkipInvalid {
		if p.rejects, err = os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".rejects-*.csv"); err != nil {
			return p, fmt.Errorf("rejects file: %w", err)
		}
		defer p.rejects.Close()
		w = csv.NewWriter(p.rejects)
		if err := w.Write(r.rd.RejectHeader()); err != nil {
			return p, fmt.Errorf("rejects file: %w", err)
		}
	}
	report := func(done bool) {
		if opt.Progress != nil {
			opt.Progress(Progress{Phase: "validate", Rows: res.Rows, Bytes: r.cnt.n, Total: r.size, Done: done})
		}
	}
loop:
	for {
		rec, err := r.rd.Next()
		var re *presence.RowError
		switch {
		case err == nil:
			res.Rows++
			p.span.add(&rec)
		case errors.As(err, &re):
			res.Rows++
			res.Rejected++
			if len(res.Errors) < opt.MaxErrors {
				res.Errors = append(res.Errors, re)
			}
			if w != nil {
				if err := w.Write(r.rd.RejectRow(re.Error())); err != nil {
					return p, fmt.Errorf("rejects file: %w", err)
				}
			}
		case errors.Is(err, io.EOF):
			break loop
		case errors.As(err, &se):
			p.fatal = err
			break loop
		default:
			return p, fmt.Errorf("reading %s: %w", path, err)
		}
		if res.Rows%progressEvery == 0 {
			if err := ctx.Err(); err != nil {
				return p, err
			}
			report(false)
		}
	}
	if res.Checksum, err = r.checksum(); err != nil {
		return p, fmt.Errorf("reading %s: %w", path, err)
	}
	report(true)
	res.Loaded, res.Weight, res.From, res.To = p.span.rows, p.span.weight, p.span.from, p.span.to
	if w != nil {
		w.Flush()
		if err := w.Error(); err != nil {
			return p, fmt.Errorf("rejects file: %w", err)
		}
	}
	return p, nil
}

// keepRejects puts the invalid rows found by pass 1 beside the input.
func (l *Loader) keepRejects(p *pass1, res *Result) error {
	dst := RejectsPath(res.File)
	if err := os.Rename(p.rejects.Name(), dst); err != nil {
		return fmt.Errorf("rejects file: %w", err)
	}
	res.Rejects = dst
	return nil
}

// loaded reports whether a committed batch has this checksum.
func (l *Loader) loaded(ctx context.Context, checksum string) (bool, error) {
	var ok bool
	err := l.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ingest_batch WHERE checksum = $1 AND status = 'committed')`, checksum).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("looking up earlier loads: %w", db.SchemaError(err))
	}
	return ok, nil
}

// recordRejected accounts for a rejected file.
func (l *Loader) recordRejected(ctx context.Context, b *batchRow) (int64, error) {
	var id int64
	err := l.Pool.QueryRow(ctx, `INSERT INTO ingest_batch (source, checksum, status, rows_read, rows_loaded, rows_rejected,
		weight_loaded, started_at, finished_at, message)
		VALUES ($1, $2, 'rejected', $3, 0, $4, 0, $5, clock_timestamp(), $6) RETURNING id`,
		b.source, b.checksum, b.read, b.rejected, b.started, text(boundMessage(b.message))).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("recording the rejected batch: %w", err)
	}
	return id, nil
}

// copyFile is pass 2: one transaction claims the batch, copies the valid
// rows and announces it.
func (l *Loader) copyFile(ctx context.Context, path string, opt Options, res *Result, b *batchRow, p *pass1) error {
	r, err := l.open(path, opt.Format)
	if err != nil {
		return fmt.Errorf("reading %s again: %w", path, err)
	}
	defer r.f.Close()
	if err := ensurePartitions(ctx, l.Pool, p.span.parts); err != nil {
		return err
	}
	// (db.Wrap: when ctx ends, pgx breaks the connection, and the error
	// that reaches here may be the broken connection's rather than the
	// context's: the load says it was cancelled, whichever came first)
	tx, err := l.Pool.Begin(ctx)
	if err != nil {
		return db.Wrap(ctx, "loading "+path, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // (error ignored) after Commit, a no-op
	id, ok, err := claim(ctx, tx, b)
	if err != nil {
		return err
	}
	if !ok { // loaded meanwhile by someone else
		res.Duplicate = true
		res.Loaded, res.Weight = 0, 0
		return nil
	}
	zones, err := areas.ReadZones(ctx, tx, true)
	if err != nil {
		return err
	}
	src := &fileSource{ctx: ctx, r: r, enc: newEncoder(id, zones), want: res.Checksum, opt: &opt}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"presence"}, columns, src)
	if err != nil {
		return db.Wrap(ctx, "loading "+path, err)
	}
	if n != res.Loaded {
		return fmt.Errorf("loading %s: %d rows copied, %d validated: did the file change?", path, n, res.Loaded)
	}
	if err := finish(ctx, tx, id, b); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return db.Wrap(ctx, "loading "+path+": committing", err)
	}
	res.Batch = id
	return nil
}

// fileSource feeds the valid rows of a file to COPY (pgx.CopyFromSource),
// skipping the invalid ones, and checks at the end that the file is the
// one validated.
type fileSource struct {
	ctx  context.Context
	r    *reading
	enc  *encoder
	want string
	opt  *Options
	rec  presence.Record
	rows int64
	err  error
}

func (s *fileSource) Next() bool {
	for {
		rec, err := s.r.rd.Next()
		var re *presence.RowError
		switch {
		case err == nil:
			s.rec = rec
			s.rows++
			if s.rows%progressEvery == 0 {
				s.progress(false)
			}
			return true
		case errors.As(err, &re):
			continue
		case errors.Is(err, io.EOF):
			sum, err := s.r.checksum()
			switch {
			case err != nil:
				s.err = err
			case sum != s.want:
				s.err = errors.New("the file changed while loading")
			}
			s.progress(true)
			return false
		default:
			s.err = err
			return false
		}
	}
}

func (s *fileSource) progress(done bool) {
	if s.opt.Progress != nil {
		s.opt.Progress(Progress{Phase: "load", Rows: s.rows, Bytes: s.r.cnt.n, Total: s.r.size, Done: done})
	}
}

// Values implements pgx.CopyFromSource; the slice is reused.
func (s *fileSource) Values() ([]any, error) { return s.enc.values(&s.rec), nil }

func (s *fileSource) Err() error { return s.err }
