package bqfake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

type dataset struct {
	meta   *bq.Dataset
	tables map[string]*table
}

type table struct {
	meta *bq.Table
	// rows per partition id; "" for an unpartitioned table.
	rows   map[string]int64
	policy *bq.Policy
}

func dsKey(project, ds string) string { return project + "." + ds }

// splitDecorator splits "t$20240101" into "t" and "20240101".
func splitDecorator(tableID string) (base, partition string) {
	base, partition, _ = strings.Cut(tableID, "$")
	return base, partition
}

// etag returns a fresh entity tag. Callers hold s.mu.
func (s *Server) etag() string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("etag-%d", s.nextID())))
}

// dataset returns a dataset. Callers hold s.mu.
func (s *Server) dataset(project, ds string) *dataset { return s.datasets[dsKey(project, ds)] }

// table returns a live (not expired) table; an expired table is removed.
// Callers hold s.mu.
func (s *Server) table(project, ds, tableID string) *table {
	d := s.dataset(project, ds)
	if d == nil {
		return nil
	}
	t := d.tables[tableID]
	if t == nil {
		return nil
	}
	if exp := t.meta.ExpirationTime; exp > 0 && exp <= s.now().UnixMilli() {
		delete(d.tables, tableID)
		return nil
	}
	return t
}

// ---- test-facing state API ----

// PutDataset creates or replaces a dataset. md.DatasetReference names it.
func (s *Server) PutDataset(md *bq.Dataset) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putDataset(clone(md))
}

func (s *Server) putDataset(md *bq.Dataset) *dataset {
	ref := md.DatasetReference
	now := s.now().UnixMilli()
	md.Id = ref.ProjectId + ":" + ref.DatasetId
	md.Kind = "bigquery#dataset"
	if md.Location == "" {
		md.Location = s.defaultLoc
	}
	if md.CreationTime == 0 {
		md.CreationTime = now
	}
	md.LastModifiedTime = now
	md.Etag = s.etag()
	d := s.dataset(ref.ProjectId, ref.DatasetId)
	if d == nil {
		d = &dataset{tables: map[string]*table{}}
		s.datasets[dsKey(ref.ProjectId, ref.DatasetId)] = d
	}
	d.meta = md
	return d
}

// AddDataset creates an empty dataset (no access entries) if it is missing.
func (s *Server) AddDataset(project, ds string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dataset(project, ds) == nil {
		s.putDataset(&bq.Dataset{DatasetReference: &bq.DatasetReference{ProjectId: project, DatasetId: ds}})
	}
}

// SetDatasetAccess replaces a dataset's access entries (the dataset is
// created if missing).
func (s *Server) SetDatasetAccess(project, ds string, access []*bq.DatasetAccess) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dataset(project, ds)
	if d == nil {
		d = s.putDataset(&bq.Dataset{DatasetReference: &bq.DatasetReference{ProjectId: project, DatasetId: ds}})
	}
	md := clone(d.meta)
	md.Access = nil
	for _, a := range access {
		md.Access = append(md.Access, clone(a))
	}
	s.putDataset(md)
}

// Dataset returns a copy of a dataset's metadata, or nil.
func (s *Server) Dataset(project, ds string) *bq.Dataset {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.dataset(project, ds); d != nil {
		return clone(d.meta)
	}
	return nil
}

// PutTable creates or replaces a table (its dataset is created if
// missing), keeping the row counts of a replaced table.
// md.TableReference names it.
func (s *Server) PutTable(md *bq.Table) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := md.TableReference
	if s.dataset(ref.ProjectId, ref.DatasetId) == nil {
		s.putDataset(&bq.Dataset{DatasetReference: &bq.DatasetReference{ProjectId: ref.ProjectId, DatasetId: ref.DatasetId}})
	}
	s.putTable(clone(md))
}

// putTable stores md, filling the server-set fields. Callers hold s.mu and
// have checked that the dataset exists.
func (s *Server) putTable(md *bq.Table) *table {
	ref := md.TableReference
	d := s.dataset(ref.ProjectId, ref.DatasetId)
	now := s.now().UnixMilli()
	md.Id = ref.ProjectId + ":" + ref.DatasetId + "." + ref.TableId
	md.Kind = "bigquery#table"
	if md.Type == "" {
		md.Type = "TABLE"
	}
	if md.CreationTime == 0 {
		md.CreationTime = now
	}
	md.LastModifiedTime = uint64(now)
	md.Etag = s.etag()
	if md.Location == "" {
		md.Location = d.meta.Location
	}
	t := d.tables[ref.TableId]
	if t == nil {
		t = &table{rows: map[string]int64{}}
		d.tables[ref.TableId] = t
	}
	t.meta = md
	s.refreshNumRows(t)
	return t
}

// refreshNumRows recomputes numRows from the partition counts.
func (s *Server) refreshNumRows(t *table) {
	var n int64
	for _, c := range t.rows {
		n += c
	}
	t.meta.NumRows = uint64(n)
	t.meta.ForceSendFields = append(t.meta.ForceSendFields[:0:0], "NumRows")
}

// Table returns a copy of a table's metadata (numRows included), or nil if
// it does not exist or has expired.
func (s *Server) Table(ref warehouse.TableRef) *bq.Table {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.table(ref.Project, ref.Dataset, ref.Table); t != nil {
		return clone(t.meta)
	}
	return nil
}

// SetPartitionRows sets the row count of one partition ("" for an
// unpartitioned table; 0 removes the partition). The table must exist.
func (s *Server) SetPartitionRows(ref warehouse.TableRef, partition string, rows int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.table(ref.Project, ref.Dataset, ref.Table)
	if t == nil {
		return fmt.Errorf("bqfake: table %s does not exist", ref)
	}
	setRows(t, partition, rows)
	t.meta.LastModifiedTime = uint64(s.now().UnixMilli())
	s.refreshNumRows(t)
	return nil
}

func setRows(t *table, partition string, rows int64) {
	if rows <= 0 {
		delete(t.rows, partition)
		return
	}
	t.rows[partition] = rows
}

// PartitionRows returns the row counts per partition of a table, or nil if
// it does not exist.
func (s *Server) PartitionRows(ref warehouse.TableRef) map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.table(ref.Project, ref.Dataset, ref.Table)
	if t == nil {
		return nil
	}
	out := make(map[string]int64, len(t.rows))
	for k, v := range t.rows {
		out[k] = v
	}
	return out
}

// SetTableIAM replaces a table's IAM policy (a fresh etag is assigned).
func (s *Server) SetTableIAM(ref warehouse.TableRef, p *bq.Policy) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.table(ref.Project, ref.Dataset, ref.Table)
	if t == nil {
		return fmt.Errorf("bqfake: table %s does not exist", ref)
	}
	t.policy = clone(p)
	t.policy.Etag = s.etag()
	return nil
}

// TableIAM returns a copy of a table's IAM policy (nil if never set or the
// table is missing).
func (s *Server) TableIAM(ref warehouse.TableRef) *bq.Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.table(ref.Project, ref.Dataset, ref.Table); t != nil {
		return clone(t.policy)
	}
	return nil
}

// ---- REST handlers (each takes s.mu) ----

func (s *Server) datasetsGet(rt route) (any, *httpError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dataset(rt.project, rt.dataset)
	if d == nil {
		return nil, errNotFound("Dataset %s:%s", rt.project, rt.dataset)
	}
	return clone(d.meta), nil
}

func (s *Server) datasetsInsert(rt route, body []byte) (any, *httpError) {
	var md bq.Dataset
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, errInvalid("decode dataset: %v", err)
	}
	if md.DatasetReference == nil || md.DatasetReference.DatasetId == "" {
		return nil, errInvalid("datasetReference.datasetId is required")
	}
	if md.DatasetReference.ProjectId == "" {
		md.DatasetReference.ProjectId = rt.project
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := md.DatasetReference
	if s.dataset(ref.ProjectId, ref.DatasetId) != nil {
		return nil, errDuplicate("Dataset %s:%s", ref.ProjectId, ref.DatasetId)
	}
	if len(md.Access) == 0 && rt.principal != "" {
		// BigQuery's default access of a new dataset: its creator owns
		// it; project owners, writers and readers get OWNER, WRITER and
		// READER.
		md.Access = []*bq.DatasetAccess{
			{Role: "OWNER", UserByEmail: rt.principal},
			{Role: "OWNER", SpecialGroup: "projectOwners"},
			{Role: "WRITER", SpecialGroup: "projectWriters"},
			{Role: "READER", SpecialGroup: "projectReaders"},
		}
	}
	return clone(s.putDataset(&md).meta), nil
}

func (s *Server) datasetsPatch(rt route, body []byte, ifMatch string, replace bool) (any, *httpError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dataset(rt.project, rt.dataset)
	if d == nil {
		return nil, errNotFound("Dataset %s:%s", rt.project, rt.dataset)
	}
	if ifMatch != "" && ifMatch != d.meta.Etag {
		return nil, &httpError{http.StatusPreconditionFailed, "failedPrecondition", "Precondition check failed."}
	}
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(body, &patch); err != nil {
		return nil, errInvalid("decode dataset patch: %v", err)
	}
	var upd bq.Dataset
	if err := json.Unmarshal(body, &upd); err != nil {
		return nil, errInvalid("decode dataset patch: %v", err)
	}
	md := d.meta
	if replace {
		upd.DatasetReference = md.DatasetReference
		upd.CreationTime = md.CreationTime
		md = &upd
	} else {
		if _, ok := patch["access"]; ok {
			md.Access = upd.Access
		}
		if _, ok := patch["description"]; ok {
			md.Description = upd.Description
		}
		if _, ok := patch["friendlyName"]; ok {
			md.FriendlyName = upd.FriendlyName
		}
		if _, ok := patch["defaultTableExpirationMs"]; ok {
			md.DefaultTableExpirationMs = upd.DefaultTableExpirationMs
		}
		if _, ok := patch["defaultPartitionExpirationMs"]; ok {
			md.DefaultPartitionExpirationMs = upd.DefaultPartitionExpirationMs
		}
		if raw, ok := patch["labels"]; ok {
			md.Labels = mergeLabels(md.Labels, raw)
		}
	}
	return clone(s.putDataset(md).meta), nil
}

func (s *Server) datasetsDelete(rt route, deleteContents bool) (any, *httpError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dataset(rt.project, rt.dataset)
	if d == nil {
		return nil, errNotFound("Dataset %s:%s", rt.project, rt.dataset)
	}
	if len(d.tables) > 0 && !deleteContents {
		return nil, &httpError{http.StatusBadRequest, "resourceInUse", fmt.Sprintf("Dataset %s:%s is still in use", rt.project, rt.dataset)}
	}
	delete(s.datasets, dsKey(rt.project, rt.dataset))
	return nil, nil
}

// mergeLabels applies a JSON labels patch: a null value deletes the label.
func mergeLabels(cur map[string]string, raw json.RawMessage) map[string]string {
	var patch map[string]*string
	if err := json.Unmarshal(raw, &patch); err != nil || patch == nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range cur {
		out[k] = v
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = *v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (s *Server) tablesGet(rt route) (any, *httpError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	base, part := splitDecorator(rt.table)
	t := s.table(rt.project, rt.dataset, base)
	if t == nil {
		return nil, errNotFound("Table %s:%s.%s", rt.project, rt.dataset, base)
	}
	md := clone(t.meta)
	if part != "" {
		// A decorated table id reads the partition: its row count.
		md.NumRows = uint64(t.rows[part])
		md.ForceSendFields = []string{"NumRows"}
	}
	return md, nil
}

func (s *Server) tablesInsert(rt route, body []byte) (any, *httpError) {
	var md bq.Table
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, errInvalid("decode table: %v", err)
	}
	if md.TableReference == nil || md.TableReference.TableId == "" {
		return nil, errInvalid("tableReference.tableId is required")
	}
	ref := md.TableReference
	if ref.ProjectId == "" {
		ref.ProjectId = rt.project
	}
	if ref.DatasetId == "" {
		ref.DatasetId = rt.dataset
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dataset(ref.ProjectId, ref.DatasetId)
	if d == nil {
		return nil, errNotFound("Dataset %s:%s", ref.ProjectId, ref.DatasetId)
	}
	if s.table(ref.ProjectId, ref.DatasetId, ref.TableId) != nil {
		return nil, errDuplicate("Table %s:%s.%s", ref.ProjectId, ref.DatasetId, ref.TableId)
	}
	if herr := validateTable(&md); herr != nil {
		return nil, herr
	}
	s.applyDatasetDefaults(d, &md)
	md.NumRows = 0
	return clone(s.putTable(&md).meta), nil
}

// applyDatasetDefaults gives a new table the dataset's default expiration.
func (s *Server) applyDatasetDefaults(d *dataset, md *bq.Table) {
	if md.ExpirationTime == 0 && d.meta.DefaultTableExpirationMs > 0 {
		md.ExpirationTime = s.now().UnixMilli() + d.meta.DefaultTableExpirationMs
	}
}

// validateTable checks what BigQuery checks on create: partitioning and
// clustering fields exist at the top level with a fitting type.
func validateTable(md *bq.Table) *httpError {
	top := map[string]*bq.TableFieldSchema{}
	if md.Schema != nil {
		for _, f := range md.Schema.Fields {
			top[strings.ToLower(f.Name)] = f
		}
	}
	if tp := md.TimePartitioning; tp != nil {
		switch tp.Type {
		case "DAY", "HOUR", "MONTH", "YEAR":
		default:
			return errInvalid("Invalid time partitioning type %q", tp.Type)
		}
		if tp.Field != "" {
			f := top[strings.ToLower(tp.Field)]
			if f == nil {
				return errInvalid("The field specified for time partitioning can only be a top-level field: %s", tp.Field)
			}
			switch f.Type {
			case "DATE", "TIMESTAMP", "DATETIME":
			default:
				return errInvalid("Partitioning field %s has type %s; it must be DATE, TIMESTAMP or DATETIME", tp.Field, f.Type)
			}
		}
	}
	if md.Clustering != nil {
		if len(md.Clustering.Fields) > 4 {
			return errInvalid("Too many clustering fields: %d, only 4 are allowed", len(md.Clustering.Fields))
		}
		for _, c := range md.Clustering.Fields {
			if top[strings.ToLower(c)] == nil {
				return errInvalid("The field specified for clustering cannot be found in the schema: %s", c)
			}
		}
	}
	return nil
}

func (s *Server) tablesPatch(rt route, body []byte, ifMatch string) (any, *httpError) {
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(body, &patch); err != nil {
		return nil, errInvalid("decode table patch: %v", err)
	}
	var upd bq.Table
	if err := json.Unmarshal(body, &upd); err != nil {
		return nil, errInvalid("decode table patch: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.table(rt.project, rt.dataset, rt.table)
	if t == nil {
		return nil, errNotFound("Table %s:%s.%s", rt.project, rt.dataset, rt.table)
	}
	if ifMatch != "" && ifMatch != t.meta.Etag {
		return nil, &httpError{http.StatusPreconditionFailed, "failedPrecondition", "Precondition check failed."}
	}
	md := t.meta
	has := func(k string) bool { _, ok := patch[k]; return ok }
	if has("expirationTime") {
		md.ExpirationTime = upd.ExpirationTime
	}
	if has("description") {
		md.Description = upd.Description
	}
	if has("friendlyName") {
		md.FriendlyName = upd.FriendlyName
	}
	if has("schema") {
		md.Schema = upd.Schema
	}
	if has("clustering") {
		md.Clustering = upd.Clustering
	}
	if has("tableConstraints") {
		md.TableConstraints = upd.TableConstraints
		if c := md.TableConstraints; c != nil && c.PrimaryKey == nil && len(c.ForeignKeys) == 0 {
			md.TableConstraints = nil
		}
	}
	if has("defaultCollation") {
		md.DefaultCollation = upd.DefaultCollation
	}
	if has("requirePartitionFilter") {
		md.RequirePartitionFilter = upd.RequirePartitionFilter
	}
	if has("timePartitioning") && upd.TimePartitioning != nil && md.TimePartitioning != nil {
		md.TimePartitioning.ExpirationMs = upd.TimePartitioning.ExpirationMs
	}
	if raw, ok := patch["labels"]; ok {
		md.Labels = mergeLabels(md.Labels, raw)
	}
	md.LastModifiedTime = uint64(s.now().UnixMilli())
	md.Etag = s.etag()
	return clone(md), nil
}

func (s *Server) tablesDelete(rt route) (any, *httpError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	base, part := splitDecorator(rt.table)
	t := s.table(rt.project, rt.dataset, base)
	if t == nil {
		return nil, errNotFound("Table %s:%s.%s", rt.project, rt.dataset, base)
	}
	if part != "" {
		delete(t.rows, part)
		s.refreshNumRows(t)
		return nil, nil
	}
	delete(s.dataset(rt.project, rt.dataset).tables, base)
	return nil, nil
}

// getIamPolicy answers with the policy in the requested version: below 3,
// a conditional binding appears as the role "<role>_withcond_<hash>"
// without its condition, as IAM shows it to version-1 readers
// (https://cloud.google.com/iam/docs/policies#versions).
func (s *Server) getIamPolicy(rt route, body []byte) (any, *httpError) {
	var req bq.GetIamPolicyRequest
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, errInvalid("decode getIamPolicy request: %v", err)
		}
	}
	version := int64(1)
	if req.Options != nil && req.Options.RequestedPolicyVersion > 0 {
		version = req.Options.RequestedPolicyVersion
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.table(rt.project, rt.dataset, rt.table)
	if t == nil {
		return nil, errNotFound("Table %s:%s.%s", rt.project, rt.dataset, rt.table)
	}
	if t.policy == nil {
		t.policy = &bq.Policy{Etag: s.etag(), Version: 1}
	}
	p := clone(t.policy)
	if version < 3 {
		p.Version = 1
		for _, b := range p.Bindings {
			if b.Condition != nil {
				sum := sha256.Sum256([]byte(b.Condition.Expression + "\x00" + b.Condition.Title))
				b.Role = fmt.Sprintf("%s_withcond_%x", b.Role, sum[:10])
				b.Condition = nil
			}
		}
	}
	return p, nil
}

// tableRoles are the predefined roles BigQuery accepts in a table's policy
// ("Lowest-level resources where you can grant this role: Table",
// https://cloud.google.com/iam/docs/roles-permissions/bigquery).
var tableRoles = map[string]bool{
	"roles/bigquery.admin": true, "roles/bigquery.dataOwner": true, "roles/bigquery.dataEditor": true,
	"roles/bigquery.dataViewer": true, "roles/bigquery.metadataViewer": true,
}

// validMember is an IAM principal a policy may name.
func validMember(m string) bool {
	if m == "allUsers" || m == "allAuthenticatedUsers" {
		return true
	}
	for _, p := range []string{"user:", "group:", "serviceAccount:", "domain:", "principal:", "principalSet:", "deleted:"} {
		if strings.HasPrefix(m, p) && len(m) > len(p) {
			return true
		}
	}
	return false
}

func (s *Server) setIamPolicy(rt route, body []byte) (any, *httpError) {
	var req bq.SetIamPolicyRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Policy == nil {
		return nil, errInvalid("decode setIamPolicy request: policy is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.table(rt.project, rt.dataset, rt.table)
	if t == nil {
		return nil, errNotFound("Table %s:%s.%s", rt.project, rt.dataset, rt.table)
	}
	if req.Policy.Etag != "" && (t.policy == nil || t.policy.Etag != req.Policy.Etag) {
		return nil, &httpError{http.StatusConflict, "aborted", "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff."}
	}
	conditional := false
	for _, b := range req.Policy.Bindings {
		custom := strings.HasPrefix(b.Role, "projects/") || strings.HasPrefix(b.Role, "organizations/")
		if !tableRoles[b.Role] && !custom {
			return nil, errInvalid("Role %s is not supported for this resource.", b.Role)
		}
		if b.Condition != nil {
			conditional = true
		}
		for _, m := range b.Members {
			if !validMember(m) {
				return nil, errInvalid("Invalid principal %q in binding for %s", m, b.Role)
			}
		}
	}
	if req.Policy.Version < 3 {
		had := false
		if t.policy != nil {
			for _, b := range t.policy.Bindings {
				had = had || b.Condition != nil
			}
		}
		if conditional || had {
			return nil, errInvalid("Policy version %d cannot be used with a policy that has conditional role bindings; use version 3.", req.Policy.Version)
		}
	}
	p := clone(req.Policy)
	sort.SliceStable(p.Bindings, func(i, j int) bool { return p.Bindings[i].Role < p.Bindings[j].Role })
	p.Etag = s.etag()
	if p.Version == 0 {
		p.Version = 1
	}
	t.policy = p
	return clone(p), nil
}
