package bqfake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/civil"
	bq "google.golang.org/api/bigquery/v2"
)

// Query is what a query job (or a jobs.query call) asked for, as handed to
// a QueryHandler.
type Query struct {
	Project        string // the job's project (the billing project)
	JobID          string
	SQL            string
	Params         []*bq.QueryParameter
	DefaultDataset *bq.DatasetReference
	Destination    *bq.TableReference // nil for reads
	DryRun         bool
	Labels         map[string]string
}

// Param returns the text value of the scalar parameter @name.
func (q *Query) Param(name string) (string, bool) {
	for _, p := range q.Params {
		if p.Name == name && p.ParameterValue != nil {
			return p.ParameterValue.Value, true
		}
	}
	return "", false
}

// Result is a query's result. Rows hold Go values in the order of Schema:
// string, int/int64, float64, bool, []byte, *big.Rat, civil.Date,
// civil.DateTime, civil.Time, time.Time, nil; a RECORD is a []any of its
// fields, a REPEATED column a slice. A pre-formatted string is accepted
// for every type.
type Result struct {
	Schema         []*bq.TableFieldSchema
	Rows           [][]any
	BytesProcessed int64
}

// Column returns a NULLABLE schema field, for building Result.Schema.
func Column(name, typ string) *bq.TableFieldSchema {
	return &bq.TableFieldSchema{Name: name, Type: typ, Mode: "NULLABLE"}
}

// JobError fails the job with a BigQuery error reason when a QueryHandler
// returns it. Any other error fails the job with reason "invalidQuery".
type JobError struct {
	Reason  string
	Message string
}

func (e *JobError) Error() string { return e.Reason + ": " + e.Message }

// QueryHandler answers a query. It returns (nil, nil) to pass the query to
// the next handler. Handlers run without the server's lock held, so they
// may call the Server's methods.
type QueryHandler func(q *Query) (*Result, error)

// OnQuery registers a handler. Handlers are tried newest first; then the
// built-in INFORMATION_SCHEMA.PARTITIONS handler; a query nobody handles
// succeeds with an empty result.
func (s *Server) OnQuery(h QueryHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers = append(s.handlers, h)
}

type jobState struct {
	job     *bq.Job
	result  *Result
	pending int
	creator string // the principal that inserted it (may always read it)
}

func jobKey(project, id string) string { return project + ":" + id }

// Job returns a copy of a stored job, or nil.
func (s *Server) Job(project, jobID string) *bq.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[jobKey(project, jobID)]; j != nil {
		return clone(j.job)
	}
	return nil
}

// Jobs returns copies of every stored job in insertion order (dry runs are
// not stored; see RequestsFor("jobs.insert") for every request).
func (s *Server) Jobs() []*bq.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*bq.Job, 0, len(s.jobOrder))
	for _, k := range s.jobOrder {
		out = append(out, clone(s.jobs[k].job))
	}
	return out
}

// InsertedJobs decodes the body of every jobs.insert request, oldest first,
// dry runs and rejected requests included: the configurations a client sent.
func (s *Server) InsertedJobs() ([]*bq.Job, error) {
	var out []*bq.Job
	for _, r := range s.RequestsFor("jobs.insert") {
		var j bq.Job
		if err := r.Decode(&j); err != nil {
			return nil, err
		}
		out = append(out, &j)
	}
	return out, nil
}

// runHandlers finds the answer to q. It must be called without s.mu held.
func (s *Server) runHandlers(q *Query) (*Result, error) {
	s.mu.Lock()
	hs := append([]QueryHandler(nil), s.handlers...)
	s.mu.Unlock()
	for i := len(hs) - 1; i >= 0; i-- {
		res, err := hs[i](q)
		if err != nil || res != nil {
			return res, err
		}
	}
	if res, err := s.partitionsHandler(q); err != nil || res != nil {
		return res, err
	}
	if res, err := s.dmlHandler(q); err != nil || res != nil {
		return res, err
	}
	return &Result{}, nil
}

// jobErrorOf turns a handler error into a job error.
func jobErrorOf(err error) *bq.ErrorProto {
	if je, ok := err.(*JobError); ok {
		return &bq.ErrorProto{Reason: je.Reason, Message: je.Message}
	}
	return &bq.ErrorProto{Reason: "invalidQuery", Message: err.Error()}
}

// matchJobFault returns the error of the first matching job fault and uses
// one of its attempts. Callers hold s.mu.
func (s *Server) matchJobFault(typ string, dest *bq.TableReference) *bq.ErrorProto {
	for i, f := range s.jobFaults {
		if f.Type != "" && f.Type != typ {
			continue
		}
		if f.Table != "" && (dest == nil || !strings.Contains(dest.TableId, f.Table)) {
			continue
		}
		ep := &bq.ErrorProto{Reason: f.Reason, Message: f.Message}
		if ep.Message == "" {
			ep.Message = "injected job failure: " + f.Reason
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.jobFaults = append(s.jobFaults[:i:i], s.jobFaults[i+1:]...)
			}
		}
		return ep
	}
	return nil
}

func jobType(cfg *bq.JobConfiguration) string {
	switch {
	case cfg.Query != nil:
		return "QUERY"
	case cfg.Copy != nil:
		return "COPY"
	case cfg.Load != nil:
		return "LOAD"
	case cfg.Extract != nil:
		return "EXTRACT"
	}
	return ""
}

func (s *Server) jobsInsert(rt route, body []byte) (any, *httpError) {
	var job bq.Job
	if err := json.Unmarshal(body, &job); err != nil {
		return nil, errInvalid("decode job: %v", err)
	}
	cfg := job.Configuration
	if cfg == nil {
		return nil, errInvalid("job configuration is required")
	}
	typ := jobType(cfg)
	if typ != "QUERY" && typ != "COPY" {
		return nil, errInvalid("bqfake runs query and copy jobs only, not %q", typ)
	}
	if job.JobReference == nil {
		job.JobReference = &bq.JobReference{}
	}
	ref := job.JobReference
	ref.ProjectId = rt.project
	if ref.Location == "" {
		ref.Location = s.defaultLoc
	}
	cfg.JobType = typ

	s.mu.Lock()
	if ref.JobId == "" {
		ref.JobId = fmt.Sprintf("bqfake_job_%d", s.nextID())
	}
	if _, dup := s.jobs[jobKey(ref.ProjectId, ref.JobId)]; dup {
		s.mu.Unlock()
		return nil, errDuplicate("Job %s:%s.%s", ref.ProjectId, ref.Location, ref.JobId)
	}
	var dest *bq.TableReference
	if cfg.Query != nil {
		dest = cfg.Query.DestinationTable
	} else {
		dest = cfg.Copy.DestinationTable
	}
	var fault *bq.ErrorProto
	if !cfg.DryRun {
		fault = s.matchJobFault(typ, dest)
	}
	if fault == nil {
		fault = s.authorizeJob(rt.principal, cfg)
		if fault != nil && cfg.DryRun {
			s.mu.Unlock()
			return nil, &httpError{http.StatusForbidden, fault.Reason, fault.Message}
		}
	}
	s.mu.Unlock()

	var (
		res    *Result
		jobErr = fault
	)
	if typ == "QUERY" && jobErr == nil {
		q := &Query{
			Project: ref.ProjectId, JobID: ref.JobId, SQL: cfg.Query.Query,
			Params: cfg.Query.QueryParameters, DefaultDataset: cfg.Query.DefaultDataset,
			Destination: dest, DryRun: cfg.DryRun, Labels: cfg.Labels,
		}
		var err error
		if res, err = s.runHandlers(q); err != nil {
			jobErr = jobErrorOf(err)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UnixMilli()
	if cfg.DryRun {
		if jobErr != nil {
			return nil, &httpError{statusForReason(jobErr.Reason), jobErr.Reason, jobErr.Message}
		}
		if typ != "QUERY" {
			return nil, errInvalid("dry runs are supported for query jobs only")
		}
		job.Status = &bq.JobStatus{State: "DONE"}
		job.Statistics = &bq.JobStatistics{
			CreationTime: now, TotalBytesProcessed: res.BytesProcessed,
			Query: &bq.JobStatistics2{TotalBytesProcessed: res.BytesProcessed, StatementType: "SELECT"},
		}
		job.JobReference = &bq.JobReference{ProjectId: ref.ProjectId, Location: ref.Location}
		return &job, nil
	}

	job.Statistics = &bq.JobStatistics{CreationTime: now, StartTime: now, EndTime: now}
	if jobErr == nil {
		if typ == "QUERY" {
			jobErr = s.applyQuery(cfg.Query, res)
			job.Statistics.TotalBytesProcessed = res.BytesProcessed
			job.Statistics.Query = &bq.JobStatistics2{
				TotalBytesProcessed: res.BytesProcessed, TotalBytesBilled: res.BytesProcessed,
				StatementType: "SELECT",
			}
			if cfg.Query.DestinationTable == nil {
				// BigQuery writes the results of a read to an anonymous table.
				cfg.Query.DestinationTable = &bq.TableReference{ProjectId: ref.ProjectId, DatasetId: "_bqfake_anonymous", TableId: "anon_" + ref.JobId}
			}
		} else {
			var copied int64
			copied, jobErr = s.applyCopy(cfg.Copy)
			job.Statistics.Copy = &bq.JobStatistics5{CopiedRows: copied}
		}
	}
	job.Status = &bq.JobStatus{State: "DONE"}
	if jobErr != nil {
		job.Status.ErrorResult = jobErr
		job.Status.Errors = []*bq.ErrorProto{jobErr}
		res = nil
	}
	job.Id = ref.ProjectId + ":" + ref.Location + "." + ref.JobId
	job.Kind = "bigquery#job"
	st := &jobState{job: &job, result: res, pending: s.pending, creator: rt.principal}
	s.jobs[jobKey(ref.ProjectId, ref.JobId)] = st
	s.jobOrder = append(s.jobOrder, jobKey(ref.ProjectId, ref.JobId))
	return s.visibleJob(st, false), nil
}

// visibleJob is the job as a client sees it now: RUNNING while polls are
// pending. poll uses one pending poll. Callers hold s.mu.
func (s *Server) visibleJob(st *jobState, poll bool) *bq.Job {
	j := clone(st.job)
	if st.pending > 0 {
		if poll {
			st.pending--
		}
		j.Status = &bq.JobStatus{State: "RUNNING"}
		j.Statistics.EndTime = 0
	}
	return j
}

func (s *Server) lookupJob(rt route) (*jobState, *httpError) {
	st := s.jobs[jobKey(rt.project, rt.jobID)]
	if s.enforce && (st == nil || st.creator != rt.principal) && !s.can(rt.principal, "bigquery.jobs.get", rt.project, "", "") {
		// The creator of a job may read it; others need jobs.get.
		return nil, denied("bigquery.jobs.get", rt.project, "", "")
	}
	if st == nil {
		return nil, errNotFound("Job %s:%s", rt.project, rt.jobID)
	}
	return st, nil
}

// authorizeJob checks what a job reads and writes. Callers hold s.mu.
func (s *Server) authorizeJob(email string, cfg *bq.JobConfiguration) *bq.ErrorProto {
	if cfg.Query != nil {
		if ep := s.authorizeReads(email, cfg.Query.Query); ep != nil {
			return ep
		}
		if h := s.authorizeDML(email, cfg.Query.Query); h != nil {
			return jobDenied(h)
		}
		return s.authorizeWrite(email, cfg.Query.DestinationTable)
	}
	srcs := cfg.Copy.SourceTables
	if cfg.Copy.SourceTable != nil {
		srcs = append(srcs, cfg.Copy.SourceTable)
	}
	for _, src := range srcs {
		if ep := s.authorizeCopySource(email, src); ep != nil {
			return ep
		}
	}
	return s.authorizeWrite(email, cfg.Copy.DestinationTable)
}

func (s *Server) jobsGet(rt route) (any, *httpError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, herr := s.lookupJob(rt)
	if herr != nil {
		return nil, herr
	}
	return s.visibleJob(st, true), nil
}

func (s *Server) jobsCancel(rt route) (any, *httpError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, herr := s.lookupJob(rt)
	if herr != nil {
		return nil, herr
	}
	if st.pending > 0 && (st.job.Status == nil || st.job.Status.ErrorResult == nil || st.job.Status.ErrorResult.Reason != "stopped") {
		// A running job stops with reason "stopped", as BigQuery reports
		// a cancelled job, after the polls SetCancelPolls asks for. (The
		// fake applied the job's effect at insert; BigQuery discards a
		// cancelled job's writes.)
		st.pending = s.cancelPoll
		st.job.Status = &bq.JobStatus{State: "DONE", ErrorResult: &bq.ErrorProto{Reason: "stopped", Message: "Job execution was cancelled: User requested cancellation"}}
		st.job.Status.Errors = []*bq.ErrorProto{st.job.Status.ErrorResult}
	}
	return &bq.JobCancelResponse{Kind: "bigquery#jobCancelResponse", Job: s.visibleJob(st, false)}, nil
}

func (s *Server) getQueryResults(rt route, params url.Values) (any, *httpError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, herr := s.lookupJob(rt)
	if herr != nil {
		return nil, herr
	}
	if st.job.Configuration.Query == nil {
		return nil, errInvalid("Job %s is not a query job", rt.jobID)
	}
	ref := st.job.JobReference
	if st.pending > 0 {
		st.pending--
		return &bq.GetQueryResultsResponse{Kind: "bigquery#getQueryResultsResponse", JobReference: ref}, nil
	}
	if e := st.job.Status.ErrorResult; e != nil {
		return nil, &httpError{statusForReason(e.Reason), e.Reason, e.Message}
	}
	resp := &bq.GetQueryResultsResponse{
		Kind: "bigquery#getQueryResultsResponse", JobComplete: true, JobReference: ref,
		TotalBytesProcessed: st.job.Statistics.TotalBytesProcessed,
	}
	if st.result != nil {
		resp.Schema = &bq.TableSchema{Fields: st.result.Schema}
		resp.TotalRows = uint64(len(st.result.Rows))
		resp.ForceSendFields = []string{"TotalRows"}
		rows, token, err := page(st.result, params.Get("maxResults"), params.Get("pageToken"), params.Get("startIndex"))
		if err != nil {
			return nil, errInvalid("%v", err)
		}
		resp.Rows, resp.PageToken = rows, token
	}
	return resp, nil
}

// page encodes one page of a result: from the offset in pageToken (or
// startIndex), at most maxResults rows ("" = all; "0" = none).
func page(res *Result, maxResults, pageToken, startIndex string) ([]*bq.TableRow, string, error) {
	start := 0
	for _, s := range []string{pageToken, startIndex} {
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, "", fmt.Errorf("invalid page token or start index %q", s)
		}
		start = n
	}
	if start > len(res.Rows) {
		start = len(res.Rows)
	}
	end := len(res.Rows)
	if maxResults != "" {
		n, err := strconv.Atoi(maxResults)
		if err != nil || n < 0 {
			return nil, "", fmt.Errorf("invalid maxResults %q", maxResults)
		}
		if start+n < end {
			end = start + n
		}
	}
	rows, err := encodeRows(res.Schema, res.Rows[start:end])
	if err != nil {
		return nil, "", err
	}
	token := ""
	if end < len(res.Rows) && end > start {
		token = strconv.Itoa(end)
	}
	return rows, token, nil
}

func (s *Server) jobsQuery(rt route, body []byte) (any, *httpError) {
	var req bq.QueryRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, errInvalid("decode query request: %v", err)
	}
	loc := req.Location
	if loc == "" {
		loc = s.defaultLoc
	}
	s.mu.Lock()
	jobID := fmt.Sprintf("bqfake_query_%d", s.nextID())
	var fault *bq.ErrorProto
	if !req.DryRun {
		fault = s.matchJobFault("QUERY", nil)
	}
	if fault == nil {
		// jobs.query runs the same handlers as jobs.insert (DML included),
		// so it is authorised the same way.
		fault = s.authorizeJob(rt.principal, &bq.JobConfiguration{Query: &bq.JobConfigurationQuery{Query: req.Query}})
	}
	s.mu.Unlock()
	if fault != nil {
		return nil, &httpError{statusForReason(fault.Reason), fault.Reason, fault.Message}
	}
	q := &Query{
		Project: rt.project, JobID: jobID, SQL: req.Query, Params: req.QueryParameters,
		DefaultDataset: req.DefaultDataset, DryRun: req.DryRun, Labels: req.Labels,
	}
	res, err := s.runHandlers(q)
	if err != nil {
		e := jobErrorOf(err)
		return nil, &httpError{statusForReason(e.Reason), e.Reason, e.Message}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := &bq.JobReference{ProjectId: rt.project, JobId: jobID, Location: loc}
	if req.DryRun {
		return &bq.QueryResponse{Kind: "bigquery#queryResponse", JobComplete: true, TotalBytesProcessed: res.BytesProcessed,
			JobReference: &bq.JobReference{ProjectId: rt.project, Location: loc}}, nil
	}
	now := s.now().UnixMilli()
	f := false
	job := &bq.Job{
		Kind: "bigquery#job", Id: rt.project + ":" + loc + "." + jobID, JobReference: ref,
		Configuration: &bq.JobConfiguration{JobType: "QUERY", Labels: req.Labels, Query: &bq.JobConfigurationQuery{
			Query: req.Query, QueryParameters: req.QueryParameters, DefaultDataset: req.DefaultDataset, UseLegacySql: &f,
			DestinationTable: &bq.TableReference{ProjectId: rt.project, DatasetId: "_bqfake_anonymous", TableId: "anon_" + jobID},
		}},
		Status: &bq.JobStatus{State: "DONE"},
		Statistics: &bq.JobStatistics{CreationTime: now, StartTime: now, EndTime: now, TotalBytesProcessed: res.BytesProcessed,
			Query: &bq.JobStatistics2{TotalBytesProcessed: res.BytesProcessed, StatementType: "SELECT"}},
	}
	st := &jobState{job: job, result: res, pending: s.pending, creator: rt.principal}
	s.jobs[jobKey(rt.project, jobID)] = st
	s.jobOrder = append(s.jobOrder, jobKey(rt.project, jobID))
	resp := &bq.QueryResponse{Kind: "bigquery#queryResponse", JobReference: ref, Location: loc}
	if st.pending > 0 {
		st.pending--
		return resp, nil
	}
	resp.JobComplete = true
	resp.TotalBytesProcessed = res.BytesProcessed
	resp.Schema = &bq.TableSchema{Fields: res.Schema}
	resp.TotalRows = uint64(len(res.Rows))
	resp.ForceSendFields = []string{"TotalRows"}
	maxResults := ""
	if req.MaxResults > 0 {
		maxResults = strconv.FormatInt(req.MaxResults, 10)
	}
	rows, token, perr := page(res, maxResults, "", "")
	if perr != nil {
		return nil, errInvalid("%v", perr)
	}
	resp.Rows, resp.PageToken = rows, token
	return resp, nil
}

// ---- job effects (callers hold s.mu) ----

func notFoundTable(r *bq.TableReference, base string) *bq.ErrorProto {
	return &bq.ErrorProto{Reason: "notFound", Message: fmt.Sprintf("Not found: Table %s:%s.%s", r.ProjectId, r.DatasetId, base)}
}

func notFoundDataset(r *bq.TableReference) *bq.ErrorProto {
	return &bq.ErrorProto{Reason: "notFound", Message: fmt.Sprintf("Not found: Dataset %s:%s", r.ProjectId, r.DatasetId)}
}

func invalidJob(format string, args ...any) *bq.ErrorProto {
	return &bq.ErrorProto{Reason: "invalid", Message: fmt.Sprintf(format, args...)}
}

// applyQuery writes a query's result into its destination.
func (s *Server) applyQuery(cfg *bq.JobConfigurationQuery, res *Result) *bq.ErrorProto {
	dest := cfg.DestinationTable
	if dest == nil {
		return nil
	}
	base, part := splitDecorator(dest.TableId)
	d := s.dataset(dest.ProjectId, dest.DatasetId)
	if d == nil {
		return notFoundDataset(dest)
	}
	wd := cfg.WriteDisposition
	if wd == "" {
		wd = "WRITE_EMPTY"
	}
	t := s.table(dest.ProjectId, dest.DatasetId, base)
	created := false
	if t == nil {
		if cfg.CreateDisposition == "CREATE_NEVER" || part != "" {
			return notFoundTable(dest, base)
		}
		md := &bq.Table{
			TableReference: &bq.TableReference{ProjectId: dest.ProjectId, DatasetId: dest.DatasetId, TableId: base},
			Schema:         &bq.TableSchema{Fields: resultSchema(res.Schema)},
		}
		s.applyDatasetDefaults(d, md)
		t = s.putTable(md)
		created = true
	}
	replaceSchema := part == "" && wd == "WRITE_TRUNCATE"
	// A handler that gives no schema does not model one: nothing to fit.
	if !created && !replaceSchema && len(res.Schema) > 0 {
		var have []*bq.TableFieldSchema
		if t.meta.Schema != nil {
			have = t.meta.Schema.Fields
		}
		if ep := fitSchema(dest, res.Schema, have, wd == "WRITE_TRUNCATE_DATA"); ep != nil {
			return ep
		}
		if wd == "WRITE_TRUNCATE_DATA" {
			if ep := requiredNulls(res, have); ep != nil {
				return ep
			}
		}
	}
	counts, ep := s.bucket(t, part, res)
	if ep != nil {
		return ep
	}
	if ep := writeRows(t, part, counts, wd, dest); ep != nil {
		return ep
	}
	if replaceSchema {
		// The result's schema replaces the table's, and its constraints go.
		t.meta.Schema = &bq.TableSchema{Fields: resultSchema(res.Schema)}
		t.meta.TableConstraints = nil
	}
	t.meta.LastModifiedTime = uint64(s.now().UnixMilli())
	s.refreshNumRows(t)
	return nil
}

// writeRows applies counts (rows per partition) to t under a write
// disposition. part is the decorator ("" = the whole table).
func writeRows(t *table, part string, counts map[string]int64, wd string, dest *bq.TableReference) *bq.ErrorProto {
	existing := int64(0)
	if part != "" {
		existing = t.rows[part]
	} else {
		for _, n := range t.rows {
			existing += n
		}
	}
	switch wd {
	case "WRITE_EMPTY":
		if existing > 0 {
			return &bq.ErrorProto{Reason: "duplicate", Message: fmt.Sprintf("Already Exists: Table %s:%s.%s", dest.ProjectId, dest.DatasetId, dest.TableId)}
		}
	case "WRITE_TRUNCATE", "WRITE_TRUNCATE_DATA":
		if part != "" {
			delete(t.rows, part)
		} else {
			t.rows = map[string]int64{}
		}
	case "WRITE_APPEND":
	default:
		return invalidJob("Invalid write disposition %q", wd)
	}
	for id, n := range counts {
		setRows(t, id, t.rows[id]+n)
	}
	return nil
}

// bucket assigns result rows to partitions of t, enforcing that a write to
// a decorated partition of a column-partitioned table holds only rows of
// that partition.
func (s *Server) bucket(t *table, part string, res *Result) (map[string]int64, *bq.ErrorProto) {
	n := int64(len(res.Rows))
	tp := t.meta.TimePartitioning
	if tp == nil {
		if part != "" {
			return nil, invalidJob("Cannot write to partition %s of %s: the table is not partitioned", part, t.meta.Id)
		}
		return map[string]int64{"": n}, nil
	}
	idx := -1
	if tp.Field != "" {
		for i, f := range res.Schema {
			if strings.EqualFold(f.Name, tp.Field) {
				idx = i
				break
			}
		}
	}
	if part != "" {
		if idx >= 0 {
			for _, row := range res.Rows {
				id, err := partitionOf(value(row, idx), tp.Type)
				if err != nil {
					return nil, invalidJob("%v", err)
				}
				if id != part {
					return nil, invalidJob("Some rows belong to different partitions rather than destination partition %s", part)
				}
			}
		}
		return map[string]int64{part: n}, nil
	}
	out := map[string]int64{}
	if tp.Field == "" {
		id, _ := partitionOf(s.now().UTC(), tp.Type)
		out[id] = n
		return out, nil
	}
	if idx < 0 {
		out["__UNPARTITIONED__"] = n
		return out, nil
	}
	for _, row := range res.Rows {
		id, err := partitionOf(value(row, idx), tp.Type)
		if err != nil {
			return nil, invalidJob("%v", err)
		}
		out[id]++
	}
	return out, nil
}

func value(row []any, i int) any {
	if i < len(row) {
		return row[i]
	}
	return nil
}

// partitionOf returns the partition id of a partitioning column value.
func partitionOf(v any, typ string) (string, error) {
	var t time.Time
	switch x := v.(type) {
	case nil:
		return "__NULL__", nil
	case civil.Date:
		t = x.In(time.UTC)
	case civil.DateTime:
		t = x.In(time.UTC)
	case time.Time:
		t = x.UTC()
	case string:
		if d, err := civil.ParseDate(x); err == nil {
			t = d.In(time.UTC)
		} else if dt, err := civil.ParseDateTime(strings.Replace(x, " ", "T", 1)); err == nil {
			t = dt.In(time.UTC)
		} else if ts, err := time.Parse(time.RFC3339Nano, x); err == nil {
			t = ts.UTC()
		} else {
			return "", fmt.Errorf("partitioning column value %q is not a date or timestamp", x)
		}
	default:
		return "", fmt.Errorf("partitioning column value %v (%T) is not a date or timestamp", v, v)
	}
	switch typ {
	case "HOUR":
		return t.Format("2006010215"), nil
	case "MONTH":
		return t.Format("200601"), nil
	case "YEAR":
		return t.Format("2006"), nil
	}
	return t.Format("20060102"), nil
}

// applyCopy runs a copy (COPY, CLONE or SNAPSHOT) and returns the rows copied.
func (s *Server) applyCopy(cfg *bq.JobConfigurationTableCopy) (int64, *bq.ErrorProto) {
	srcs := cfg.SourceTables
	if len(srcs) == 0 && cfg.SourceTable != nil {
		srcs = []*bq.TableReference{cfg.SourceTable}
	}
	if len(srcs) != 1 {
		return 0, invalidJob("bqfake copies from exactly one source table, got %d", len(srcs))
	}
	src, dest := srcs[0], cfg.DestinationTable
	if dest == nil {
		return 0, invalidJob("destinationTable is required")
	}
	sbase, spart := splitDecorator(src.TableId)
	dbase, dpart := splitDecorator(dest.TableId)
	st := s.table(src.ProjectId, src.DatasetId, sbase)
	if st == nil {
		return 0, notFoundTable(src, sbase)
	}
	d := s.dataset(dest.ProjectId, dest.DatasetId)
	if d == nil {
		return 0, notFoundDataset(dest)
	}
	var expMs int64
	if cfg.DestinationExpirationTime != "" {
		exp, err := time.Parse(time.RFC3339Nano, cfg.DestinationExpirationTime)
		if err != nil {
			return 0, invalidJob("Invalid destinationExpirationTime %q", cfg.DestinationExpirationTime)
		}
		expMs = exp.UnixMilli()
	}
	dt := s.table(dest.ProjectId, dest.DatasetId, dbase)

	switch op := cfg.OperationType; op {
	case "CLONE", "SNAPSHOT":
		if spart != "" || dpart != "" {
			return 0, invalidJob("%s does not support partition decorators", op)
		}
		if dt != nil {
			return 0, &bq.ErrorProto{Reason: "duplicate", Message: fmt.Sprintf("Already Exists: Table %s:%s.%s", dest.ProjectId, dest.DatasetId, dbase)}
		}
		md := clone(st.meta)
		md.TableReference = &bq.TableReference{ProjectId: dest.ProjectId, DatasetId: dest.DatasetId, TableId: dbase}
		md.CreationTime, md.ExpirationTime, md.Location = 0, expMs, ""
		base := &bq.TableReference{ProjectId: src.ProjectId, DatasetId: src.DatasetId, TableId: sbase}
		if op == "CLONE" {
			md.Type = "TABLE"
			md.CloneDefinition = &bq.CloneDefinition{BaseTableReference: base, CloneTime: time.UnixMilli(s.now().UnixMilli()).UTC().Format(time.RFC3339Nano)}
		} else {
			md.Type = "SNAPSHOT"
			md.SnapshotDefinition = &bq.SnapshotDefinition{BaseTableReference: base, SnapshotTime: time.UnixMilli(s.now().UnixMilli()).UTC().Format(time.RFC3339Nano)}
		}
		s.applyDatasetDefaults(d, md)
		nt := s.putTable(md)
		var total int64
		for id, n := range st.rows {
			nt.rows[id] = n
			total += n
		}
		s.refreshNumRows(nt)
		return total, nil
	case "", "COPY":
	default:
		return 0, invalidJob("Unsupported copy operation type %q", op)
	}
	if cfg.WriteDisposition == "WRITE_TRUNCATE_DATA" {
		// Copy jobs offer WRITE_TRUNCATE, WRITE_APPEND and WRITE_EMPTY only.
		return 0, invalidJob("Invalid value for writeDisposition: WRITE_TRUNCATE_DATA is not supported for copy jobs")
	}

	// Rows per partition to write.
	counts := map[string]int64{}
	switch {
	case spart != "":
		target := dpart
		if target == "" {
			target = spart
			if dt != nil && dt.meta.TimePartitioning == nil {
				target = ""
			}
		}
		if dpart != "" && dpart != spart && st.rows[spart] > 0 && st.meta.TimePartitioning != nil && st.meta.TimePartitioning.Field != "" {
			return 0, invalidJob("Some rows belong to different partitions rather than destination partition %s", dpart)
		}
		counts[target] = st.rows[spart]
	case dpart != "":
		for id, n := range st.rows {
			if n > 0 && id != dpart && st.meta.TimePartitioning != nil {
				return 0, invalidJob("Some rows belong to different partitions rather than destination partition %s", dpart)
			}
			counts[dpart] += n
		}
	default:
		for id, n := range st.rows {
			counts[id] = n
		}
	}
	var total int64
	for _, n := range counts {
		total += n
	}

	if dt == nil {
		if cfg.CreateDisposition == "CREATE_NEVER" || dpart != "" {
			return 0, notFoundTable(dest, dbase)
		}
		md := &bq.Table{
			TableReference:   &bq.TableReference{ProjectId: dest.ProjectId, DatasetId: dest.DatasetId, TableId: dbase},
			Schema:           clone(st.meta.Schema),
			TimePartitioning: clone(st.meta.TimePartitioning),
			Clustering:       clone(st.meta.Clustering),
			ExpirationTime:   expMs,
		}
		s.applyDatasetDefaults(d, md)
		dt = s.putTable(md)
	} else if spart == "" && dpart == "" && !samePartitioning(st.meta.TimePartitioning, dt.meta.TimePartitioning) {
		return 0, invalidJob("Incompatible table partitioning specification when copying to the column partitioned table %s:%s.%s", dest.ProjectId, dest.DatasetId, dbase)
	} else if dpart != "" && dt.meta.TimePartitioning == nil {
		return 0, invalidJob("Cannot write to partition %s of %s: the table is not partitioned", dpart, dt.meta.Id)
	}
	wd := cfg.WriteDisposition
	if wd == "" {
		wd = "WRITE_EMPTY"
	}
	if spart != "" && st.rows[spart] == 0 {
		// What BigQuery does with a copy from an empty (absent) partition
		// is undocumented (an error, a no-op, or a truncation of the
		// destination partition): the fake makes it an error so that no
		// code depends on one answer; callers handle empty partitions
		// explicitly.
		return 0, invalidJob("bqfake: copy from the empty partition %s$%s: what BigQuery does is undocumented; handle empty partitions explicitly", tableName(src), spart)
	}
	replaceSchema := spart == "" && dpart == "" && wd == "WRITE_TRUNCATE"
	if !replaceSchema {
		var have, got []*bq.TableFieldSchema
		if dt.meta.Schema != nil {
			have = dt.meta.Schema.Fields
		}
		if st.meta.Schema != nil {
			got = st.meta.Schema.Fields
		}
		if ep := fitSchema(dest, got, have, false); ep != nil {
			return 0, ep
		}
	}
	if ep := writeRows(dt, dpart, counts, wd, dest); ep != nil {
		return 0, ep
	}
	if replaceSchema {
		// A whole-table WRITE_TRUNCATE copy takes the source's schema
		// (descriptions, modes and policy tags) and constraints.
		dt.meta.Schema = clone(st.meta.Schema)
		dt.meta.TableConstraints = clone(st.meta.TableConstraints)
	}
	dt.meta.LastModifiedTime = uint64(s.now().UnixMilli())
	s.refreshNumRows(dt)
	return total, nil
}

func samePartitioning(a, b *bq.TimePartitioning) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Type == b.Type && strings.EqualFold(a.Field, b.Field)
}

// ---- INFORMATION_SCHEMA.PARTITIONS ----

var partitionsRE = regexp.MustCompile(`(?i)(?:([A-Za-z0-9_-]+)\.)?([A-Za-z0-9_]+)\.INFORMATION_SCHEMA\.PARTITIONS\b`)

// partitionsHandler answers queries on <project>.<dataset>.INFORMATION_SCHEMA.PARTITIONS
// as the bigquery adapter sends them:
//
//	SELECT partition_id, SUM(total_rows) AS total_rows
//	FROM `p.d.INFORMATION_SCHEMA.PARTITIONS`
//	WHERE table_name = @table_name AND partition_id IS NOT NULL
//	  [AND partition_id = @partition_id]
//	GROUP BY partition_id ORDER BY partition_id
//
// It does not parse the SQL beyond the view name: the table comes from the
// STRING parameter @table_name (required) and an optional @partition_id;
// the result is the columns partition_id (STRING) and total_rows
// (INTEGER), one row per non-empty partition in ascending order (an
// unpartitioned table's NULL partition is left out, as the query filters
// it). A missing dataset fails the job with notFound; a missing table
// gives no rows. Bytes processed are 10 MB, BigQuery's minimum charge.
func (s *Server) partitionsHandler(q *Query) (*Result, error) {
	m := partitionsRE.FindStringSubmatch(strings.ReplaceAll(q.SQL, "`", ""))
	if m == nil {
		return nil, nil
	}
	project, ds := m[1], m[2]
	if project == "" {
		project = q.Project
		if q.DefaultDataset != nil && q.DefaultDataset.ProjectId != "" {
			project = q.DefaultDataset.ProjectId
		}
	}
	tableName, ok := q.Param("table_name")
	if !ok {
		return nil, &JobError{Reason: "invalidQuery", Message: "bqfake: INFORMATION_SCHEMA.PARTITIONS queries need the STRING parameter @table_name"}
	}
	onlyPart, filterPart := q.Param("partition_id")
	res := &Result{
		Schema:         []*bq.TableFieldSchema{Column("partition_id", "STRING"), Column("total_rows", "INTEGER")},
		BytesProcessed: 10 << 20,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dataset(project, ds) == nil {
		return nil, &JobError{Reason: "notFound", Message: fmt.Sprintf("Not found: Dataset %s:%s", project, ds)}
	}
	t := s.table(project, ds, tableName)
	if t == nil {
		return res, nil
	}
	ids := make([]string, 0, len(t.rows))
	for id, n := range t.rows {
		if id == "" || n <= 0 || (filterPart && id != onlyPart) {
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		res.Rows = append(res.Rows, []any{id, t.rows[id]})
	}
	return res, nil
}

// ---- row encoding (REST tabledata format) ----

func encodeRows(schema []*bq.TableFieldSchema, rows [][]any) ([]*bq.TableRow, error) {
	out := make([]*bq.TableRow, 0, len(rows))
	for i, row := range rows {
		r, err := encodeRecord(schema, row)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func encodeRecord(fields []*bq.TableFieldSchema, vals []any) (*bq.TableRow, error) {
	if len(vals) > len(fields) {
		return nil, fmt.Errorf("%d values for %d columns", len(vals), len(fields))
	}
	row := &bq.TableRow{F: make([]*bq.TableCell, len(fields))}
	for i, f := range fields {
		v, err := encodeCell(f, value(vals, i))
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name, err)
		}
		row.F[i] = &bq.TableCell{V: v}
	}
	return row, nil
}

func encodeCell(f *bq.TableFieldSchema, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if f.Mode == "REPEATED" {
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice || rv.Type().Elem().Kind() == reflect.Uint8 {
			return nil, fmt.Errorf("REPEATED value must be a slice, got %T", v)
		}
		elem := *f
		elem.Mode = "NULLABLE"
		out := make([]any, rv.Len())
		for i := range out {
			ev, err := encodeCell(&elem, rv.Index(i).Interface())
			if err != nil {
				return nil, err
			}
			out[i] = map[string]any{"v": ev}
		}
		return out, nil
	}
	if f.Type == "RECORD" || f.Type == "STRUCT" {
		vals, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("RECORD value must be []any, got %T", v)
		}
		return encodeRecord(f.Fields, vals)
	}
	return formatScalar(f.Type, v)
}

func formatScalar(typ string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return base64.StdEncoding.EncodeToString(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case *big.Rat:
		return strings.TrimRight(strings.TrimRight(x.FloatString(9), "0"), "."), nil
	case civil.Date:
		return x.String(), nil
	case civil.DateTime:
		return x.String(), nil
	case civil.Time:
		return x.String(), nil
	case time.Time:
		switch typ {
		case "DATE":
			return x.UTC().Format("2006-01-02"), nil
		case "DATETIME":
			return x.UTC().Format("2006-01-02T15:04:05.999999"), nil
		}
		// Clients ask for formatOptions.useInt64Timestamp: microseconds.
		return strconv.FormatInt(x.UnixMicro(), 10), nil
	}
	return "", fmt.Errorf("cannot encode %T as %s", v, typ)
}
