// Package bigquery implements warehouse.Warehouse on Google BigQuery with
// cloud.google.com/go/bigquery.
//
// Projects. Each job runs in (and is billed to) its job project: the
// QueryJob/CopyJob BillingProject, else the destination's project, else the
// warehouse's default project (Config.Project); reads and
// INFORMATION_SCHEMA lookups without a billing project run in the default
// project. The warehouse keeps one client per job project, created on first
// use with the same client options. Metadata calls (tables, datasets, IAM)
// address fully qualified resources and use the default project's client.
//
// Jobs. A job is inserted with a job id made of the caller's deterministic
// prefix (QueryJob.JobID, sanitised to BigQuery's alphabet) and a random
// suffix, then polled with jobs.get until DONE; its outcome is the job
// status's error, never only the polling error (job.Wait reports success
// for a failed job). Waiting does not use getQueryResults: the client
// library retries some of its errors for as long as the context lives.
//
// Retries. The driver does not retry by default (Config.Retry.Attempts 1):
// the pipeline is the one layer that retries (docs/ARCHITECTURE.md,
// "Retries"), so attempts never multiply. With more attempts, each method
// retries transient failures (short-term rate limits, backend and internal
// errors, HTTP 429/5xx, timeouts) with exponential backoff, honouring ctx,
// and a job that failed with a transient reason is re-run as a new job. A
// long-term quota error (quotaExceeded) is returned at once as
// warehouse.QuotaExceeded: BigQuery asks for a wait of at least 10
// minutes, which is the caller's to take. A job whose status cannot be
// read is polled again (up to pollAttempts polls in a row), never re-run:
// re-reading a running job is not a retry of work. The
// client library additionally retries 5xx answers of single calls itself;
// Config.CallTimeout bounds each such call so a persistent outage surfaces
// as Transient instead of hanging. Errors returned are *warehouse.Error
// with a code (see classify); Transient ones have exhausted the retries.
package bigquery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	bqapi "google.golang.org/api/bigquery/v2"
	"google.golang.org/api/option"

	"github.com/bqbackfill/bqbackfill/shared/backoff"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

var _ warehouse.Warehouse = (*Warehouse)(nil)

// RetryPolicy is the backoff for transient failures of one call.
type RetryPolicy struct {
	// Attempts is the number of tries, the first included (default 1:
	// the caller's layer retries).
	Attempts int
	// Initial is the first backoff (default 1s); each next one is
	// Multiplier (default 2) times longer, up to Max (default 30s). A
	// random jitter of up to half the backoff is subtracted.
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
}

// Config configures a Warehouse. Zero fields take the documented defaults.
type Config struct {
	// Project is the default project (required): metadata calls, reads
	// without a billing project and INFORMATION_SCHEMA lookups run in it.
	Project string
	// Location is where jobs run and new datasets are created ("" lets
	// BigQuery choose: jobs run where the data they read lives, new
	// datasets go to US).
	Location string
	// Retry governs retries of transient failures.
	Retry RetryPolicy
	// PollInterval is the first wait between polls of a running job
	// (default 500ms); it grows by half each poll up to MaxPollInterval
	// (default 10s).
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// CallTimeout bounds each single API call (with the client library's
	// own retries of it), not whole jobs (default 2m; negative: no bound).
	CallTimeout time.Duration
	// Sleep waits d or until ctx is done (returning ctx.Err()). Tests
	// replace it to run retries and polls without waiting.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (c Config) withDefaults() Config {
	if c.Retry.Attempts <= 0 {
		c.Retry.Attempts = 1
	}
	if c.Retry.Initial <= 0 {
		c.Retry.Initial = time.Second
	}
	if c.Retry.Max <= 0 {
		c.Retry.Max = 30 * time.Second
	}
	if c.Retry.Multiplier < 1 {
		c.Retry.Multiplier = 2
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.MaxPollInterval <= 0 {
		c.MaxPollInterval = 10 * time.Second
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 2 * time.Minute
	}
	if c.Sleep == nil {
		c.Sleep = backoff.Sleep
	}
	return c
}

// Warehouse is the BigQuery warehouse. It is safe for concurrent use.
type Warehouse struct {
	cfg  Config
	opts []option.ClientOption
	base context.Context // for creating clients; never cancelled

	mu      sync.Mutex
	clients map[string]*bigquery.Client
	rest    *bqapi.Service // for what the client library cannot do (IAM policy version 3)
}

// restService returns the (cached) REST service of the BigQuery API.
func (w *Warehouse) restService(op string) (*bqapi.Service, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rest != nil {
		return w.rest, nil
	}
	svc, err := bqapi.NewService(w.base, w.opts...)
	if err != nil {
		return nil, &warehouse.Error{Code: warehouse.Unknown, Op: op, Err: fmt.Errorf("bigquery REST service: %w", err)}
	}
	w.rest = svc
	return svc, nil
}

// New returns a warehouse whose default project is project, with default
// Config otherwise. opts are passed to every client it creates (for tests:
// option.WithEndpoint and option.WithoutAuthentication).
func New(ctx context.Context, project string, opts ...option.ClientOption) (*Warehouse, error) {
	return NewWithConfig(ctx, Config{Project: project}, opts...)
}

// NewWithConfig returns a warehouse configured by cfg. It creates the
// default project's client at once, so that bad credentials fail here.
func NewWithConfig(ctx context.Context, cfg Config, opts ...option.ClientOption) (*Warehouse, error) {
	if cfg.Project == "" {
		return nil, errors.New("bigquery warehouse: a default project is required")
	}
	w := &Warehouse{
		cfg:     cfg.withDefaults(),
		opts:    append([]option.ClientOption(nil), opts...),
		base:    context.WithoutCancel(ctx),
		clients: map[string]*bigquery.Client{},
	}
	if _, err := w.client(cfg.Project); err != nil {
		return nil, err
	}
	return w, nil
}

// Close closes every client.
func (w *Warehouse) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	for p, c := range w.clients {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close bigquery client for %s: %w", p, err))
		}
	}
	w.clients = map[string]*bigquery.Client{}
	return errors.Join(errs...)
}

// client returns the (cached) client whose jobs run in project.
func (w *Warehouse) client(project string) (*bigquery.Client, error) {
	if project == "" {
		project = w.cfg.Project
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if c := w.clients[project]; c != nil {
		return c, nil
	}
	c, err := bigquery.NewClient(w.base, project, w.opts...)
	if err != nil {
		return nil, fmt.Errorf("bigquery client for project %s: %w", project, err)
	}
	w.clients[project] = c
	return c, nil
}

// defaultClient is the client of the default project.
func (w *Warehouse) defaultClient(op string) (*bigquery.Client, error) {
	c, err := w.client(w.cfg.Project)
	if err != nil {
		return nil, &warehouse.Error{Code: warehouse.Unknown, Op: op, Err: err}
	}
	return c, nil
}

// retryPolicy is the adapter's retry of transient errors, attempts tries
// (Config.Retry; deployed, Attempts is 1: the pipeline is the layer that
// retries). The last error is returned as classified.
func (w *Warehouse) retryPolicy(attempts int) backoff.Policy {
	r := w.cfg.Retry
	return backoff.Policy{Attempts: attempts, Initial: r.Initial, Max: r.Max, Multiplier: r.Multiplier, Jitter: true, Sleep: w.cfg.Sleep, Unwrapped: true}
}

func isTransient(err error) bool { return warehouse.Code(err) == warehouse.Transient }

// do runs f until it succeeds, fails with a non-transient error, runs out
// of attempts or ctx ends. f returns raw errors; do classifies them with
// op and subject (the resource, for the message) and returns a
// *warehouse.Error.
func (w *Warehouse) do(ctx context.Context, op, subject string, f func(ctx context.Context) error) error {
	return w.doN(ctx, w.cfg.Retry.Attempts, op, subject, f)
}

// pollAttempts bounds the failed polls in a row of one running job.
const pollAttempts = 5

// doN is do with attempts tries.
func (w *Warehouse) doN(ctx context.Context, attempts int, op, subject string, f func(ctx context.Context) error) error {
	return w.retryPolicy(attempts).Do(ctx, backoff.If(isTransient), func(ctx context.Context) error {
		if err := w.call(ctx, f); err != nil {
			return classify(op, subject, err)
		}
		return nil
	})
}

// call runs f with the per-call timeout.
func (w *Warehouse) call(ctx context.Context, f func(ctx context.Context) error) error {
	if w.cfg.CallTimeout < 0 {
		return f(ctx)
	}
	cctx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
	defer cancel()
	return f(cctx)
}
