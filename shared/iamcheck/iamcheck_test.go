package iamcheck_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	runapi "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bqbackfill/bqbackfill/shared/iamcheck"
	"github.com/bqbackfill/bqbackfill/shared/runjob/runjobtest"
)

const bucket = "state"

// storageAs is a storage client of the fake acting as principal.
func storageAs(t *testing.T, srv *fakestorage.Server, pol *iamcheck.Policy, principal string, jsonReads bool) *storage.Client {
	t.Helper()
	var opts []option.ClientOption
	if jsonReads {
		opts = append(opts, storage.WithJSONReads())
	}
	c, err := iamcheck.Storage(context.Background(), srv.HTTPClient().Transport, pol, principal, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(ctx context.Context, c *storage.Client, name string, cond *storage.Conditions) error {
	o := c.Bucket(bucket).Object(name)
	if cond != nil {
		o = o.If(*cond)
	}
	w := o.NewWriter(ctx)
	io.WriteString(w, "x")
	return w.Close()
}

func read(ctx context.Context, c *storage.Client, name string) error {
	r, err := c.Bucket(bucket).Object(name).NewReader(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.ReadAll(r)
	return err
}

func list(ctx context.Context, c *storage.Client) error {
	_, err := c.Bucket(bucket).Objects(ctx, nil).Next()
	if err != nil && err.Error() == "no more items in iterator" {
		return nil
	}
	return err
}

// Each role allows what Cloud Storage's docs say and no more; a denial
// answers 403 naming the permission.
func TestGCS(t *testing.T) {
	ctx := context.Background()
	ops := map[string]func(*storage.Client) error{
		"get":    func(c *storage.Client) error { return read(ctx, c, "existing") },
		"list":   func(c *storage.Client) error { return list(ctx, c) },
		"create": func(c *storage.Client) error { return write(ctx, c, "new", &storage.Conditions{DoesNotExist: true}) },
		// An overwrite without and with a generation precondition.
		"overwrite": func(c *storage.Client) error { return write(ctx, c, "existing", nil) },
		"cas": func(c *storage.Client) error {
			a, err := c.Bucket(bucket).Object("existing").Attrs(ctx)
			if err != nil {
				return err
			}
			return write(ctx, c, "existing", &storage.Conditions{GenerationMatch: a.Generation})
		},
		"delete": func(c *storage.Client) error { return c.Bucket(bucket).Object("existing").Delete(ctx) },
	}
	for _, tc := range []struct {
		role   string
		denied map[string]string // op -> missing permission
	}{
		{"roles/storage.objectViewer", map[string]string{"create": "storage.objects.create", "overwrite": "storage.objects.create", "cas": "storage.objects.create", "delete": "storage.objects.delete"}},
		{"roles/storage.objectCreator", map[string]string{"get": "storage.objects.get", "list": "storage.objects.list", "overwrite": "storage.objects.delete", "cas": "storage.objects.get", "delete": "storage.objects.delete"}},
		{"roles/storage.legacyBucketReader", map[string]string{"get": "storage.objects.get", "create": "storage.objects.create", "overwrite": "storage.objects.create", "cas": "storage.objects.get", "delete": "storage.objects.delete"}},
		{"roles/storage.objectUser", map[string]string{}},
		{"", map[string]string{"get": "storage.objects.get", "list": "storage.objects.list", "create": "storage.objects.create", "overwrite": "storage.objects.create", "cas": "storage.objects.get", "delete": "storage.objects.delete"}},
	} {
		for _, jsonReads := range []bool{false, true} {
			for op, fn := range ops {
				t.Run(tc.role+"/"+op, func(t *testing.T) {
					srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true})
					if err != nil {
						t.Fatal(err)
					}
					defer srv.Stop()
					srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: "existing"}, Content: []byte("old")})
					pol := &iamcheck.Policy{}
					pol.SetParent(iamcheck.Bucket(bucket), iamcheck.Project("p"))
					if tc.role != "" {
						// Alternate bucket- and project-level grants: both hold.
						res := iamcheck.Bucket(bucket)
						if jsonReads {
							res = iamcheck.Project("p")
						}
						pol.Grant(res, tc.role, "serviceAccount:sa@p.iam.gserviceaccount.com")
					}
					pol.Grant(iamcheck.Bucket(bucket), "roles/storage.admin", "user:other@example.com")
					c := storageAs(t, srv, pol, "sa@p.iam.gserviceaccount.com", jsonReads)
					err = fn(c)
					want := tc.denied[op]
					if want == "" {
						if err != nil {
							t.Fatalf("allowed call failed: %v", err)
						}
						return
					}
					if err == nil {
						t.Fatalf("%s succeeded without %s", op, want)
					}
					var ge *googleapi.Error
					if errors.As(err, &ge) && ge.Code != http.StatusForbidden {
						t.Errorf("status %d, want 403", ge.Code)
					}
					if !strings.Contains(err.Error(), "Permission '"+want+"' denied") {
						t.Errorf("error %q does not name %s", err, want)
					}
				})
			}
		}
	}
}

// pubsubAs is a Pub/Sub client of the pstest server acting as principal.
func pubsubAs(t *testing.T, srv *pstest.Server, pol *iamcheck.Policy, principal string) *pubsub.Client {
	t.Helper()
	c, err := iamcheck.PubSub(context.Background(), srv.Addr, "p", pol, principal)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Publishing needs pubsub.topics.publish on the topic (or project);
// pulling and acking need pubsub.subscriptions.consume on the
// subscription; a denial is PermissionDenied with Pub/Sub's wording.
func TestPubSub(t *testing.T) {
	ctx := context.Background()
	srv := pstest.NewServer()
	defer srv.Close()
	admin := pubsubAs(t, srv, nil, "")
	if _, err := admin.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/p/topics/t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: "projects/p/subscriptions/s", Topic: "projects/p/topics/t", AckDeadlineSeconds: 10}); err != nil {
		t.Fatal(err)
	}
	pol := &iamcheck.Policy{}
	pol.Grant("projects/p/topics/t", "roles/pubsub.publisher", "serviceAccount:pub@p")
	pol.Grant("projects/p", "roles/pubsub.publisher", "serviceAccount:projpub@p")
	pol.Grant("projects/p/subscriptions/s", "roles/pubsub.subscriber", "serviceAccount:sub@p")
	pol.Grant("projects/p/topics/t", "roles/pubsub.viewer", "serviceAccount:viewer@p")
	publish := func(c *pubsub.Client) error {
		p := c.Publisher("t")
		defer p.Stop()
		_, err := p.Publish(ctx, &pubsub.Message{Data: []byte("m")}).Get(ctx)
		return err
	}
	pull := func(c *pubsub.Client) error {
		_, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: "projects/p/subscriptions/s", MaxMessages: 1, ReturnImmediately: true})
		return err
	}
	for _, tc := range []struct {
		who           string
		publish, pull bool
	}{
		{"pub@p", true, false}, {"projpub@p", true, false}, {"sub@p", false, true}, {"viewer@p", false, false},
	} {
		c := pubsubAs(t, srv, pol, tc.who)
		for name, fn := range map[string]func(*pubsub.Client) error{"publish": publish, "pull": pull} {
			want := map[string]bool{"publish": tc.publish, "pull": tc.pull}[name]
			err := fn(c)
			switch {
			case want && err != nil:
				t.Errorf("%s %s: %v", tc.who, name, err)
			case !want && status.Code(err) != codes.PermissionDenied:
				t.Errorf("%s %s: %v, want PermissionDenied", tc.who, name, err)
			case !want && !strings.Contains(err.Error(), "User not authorized to perform this action."):
				t.Errorf("%s %s: %v is not Pub/Sub's wording", tc.who, name, err)
			}
		}
	}
}

// RunJob needs run.jobs.run, and run.jobs.runWithOverrides when it
// overrides anything; GetJob needs run.jobs.get, which the executor roles
// lack. A denial is Cloud Run's PermissionDenied naming the permission and
// the job.
func TestCloudRun(t *testing.T) {
	ctx := context.Background()
	fake := &runjobtest.Jobs{}
	addr, stop, err := runjobtest.Serve(fake)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	const job = "projects/p/locations/l/jobs/worker"
	pol := &iamcheck.Policy{}
	for role, who := range map[string]string{
		"roles/run.invoker": "invoker@p", "roles/run.jobsExecutor": "executor@p",
		"roles/run.jobsExecutorWithOverrides": "overrider@p", "roles/run.viewer": "viewer@p", "roles/run.developer": "developer@p",
	} {
		pol.Grant(job, role, "serviceAccount:"+who)
	}
	client := func(who string) *runapi.JobsClient {
		conn, err := iamcheck.Conn(addr, pol, who)
		if err != nil {
			t.Fatal(err)
		}
		c, err := runapi.NewJobsClient(ctx, option.WithGRPCConn(conn))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	run := func(who string, overrides bool) error {
		req := &runpb.RunJobRequest{Name: job}
		if overrides {
			req.Overrides = &runpb.RunJobRequest_Overrides{TaskCount: 3}
		}
		_, err := client(who).RunJob(ctx, req)
		return err
	}
	get := func(who string) error {
		_, err := client(who).GetJob(ctx, &runpb.GetJobRequest{Name: job})
		return err
	}
	for _, tc := range []struct {
		who                         string
		run, runOverridden, getPerm string // the permission each call lacks ("" = allowed)
	}{
		{"invoker@p", "", "run.jobs.runWithOverrides", "run.jobs.get"},
		{"executor@p", "", "run.jobs.runWithOverrides", "run.jobs.get"},
		{"overrider@p", "", "", "run.jobs.get"},
		{"viewer@p", "run.jobs.run", "run.jobs.run", ""},
		{"developer@p", "", "", ""},
	} {
		for name, c := range map[string]struct {
			err  error
			want string
		}{
			"run": {run(tc.who, false), tc.run}, "run with overrides": {run(tc.who, true), tc.runOverridden}, "get": {get(tc.who), tc.getPerm},
		} {
			switch {
			case c.want == "" && c.err != nil:
				t.Errorf("%s %s: %v", tc.who, name, c.err)
			case c.want != "" && (status.Code(c.err) != codes.PermissionDenied || !strings.Contains(c.err.Error(), "Permission '"+c.want+"' denied on resource '"+job+"'")):
				t.Errorf("%s %s: %v, want PermissionDenied naming %s", tc.who, name, c.err, c.want)
			}
		}
	}
}
