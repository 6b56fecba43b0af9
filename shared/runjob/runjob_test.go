package runjob

import (
	"context"
	"net"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type fakeJobs struct {
	runpb.UnimplementedJobsServer
	got    []*runpb.RunJobRequest
	latest *runpb.ExecutionReference
}

func (f *fakeJobs) GetJob(ctx context.Context, req *runpb.GetJobRequest) (*runpb.Job, error) {
	return &runpb.Job{Name: req.Name, LatestCreatedExecution: f.latest}, nil
}

func (f *fakeJobs) RunJob(ctx context.Context, req *runpb.RunJobRequest) (*longrunningpb.Operation, error) {
	f.got = append(f.got, req)
	md, err := anypb.New(&runpb.Execution{Name: req.Name + "/executions/exec-1"})
	if err != nil {
		return nil, err
	}
	return &longrunningpb.Operation{Name: "operations/op-1", Metadata: md}, nil
}

func startFake(t *testing.T) (*fakeJobs, *run.JobsClient) {
	t.Helper()
	ctx := context.Background()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeJobs{}
	gs := grpc.NewServer()
	runpb.RegisterJobsServer(gs, f)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	client, err := run.NewJobsClient(ctx, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return f, client
}

const job = "projects/p/locations/us-central1/jobs/backfill-worker"

func TestLaunch(t *testing.T) {
	ctx := context.Background()
	f, client := startFake(t)
	l := New(client, job, 32)
	for _, tc := range []struct {
		partitions int
		wantTasks  int32
	}{{365, 32}, {5, 5}, {0, 1}} {
		exec, err := l.Launch(ctx, "p.d.t/2026-11-01", tc.partitions)
		if err != nil {
			t.Fatal(err)
		}
		if exec != job+"/executions/exec-1" {
			t.Errorf("execution = %q", exec)
		}
		req := f.got[len(f.got)-1]
		if req.Name != job || req.Overrides.GetTaskCount() != tc.wantTasks {
			t.Errorf("partitions %d: request name %q tasks %d, want %d", tc.partitions, req.Name, req.Overrides.GetTaskCount(), tc.wantTasks)
		}
		env := req.Overrides.GetContainerOverrides()[0].GetEnv()[0]
		if env.GetName() != "BQBACKFILL_LAUNCHED_FOR" || env.GetValue() != "p.d.t/2026-11-01" {
			t.Errorf("env override = %v", env)
		}
	}
}

func TestRunning(t *testing.T) {
	ctx := context.Background()
	f, client := startFake(t)
	l := New(client, job, 32)
	done := timestamppb.New(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name   string
		latest *runpb.ExecutionReference
		want   bool
	}{
		{"never run", nil, false},
		{"latest running", &runpb.ExecutionReference{Name: job + "/executions/e2"}, true},
		{"latest finished", &runpb.ExecutionReference{Name: job + "/executions/e2", CompletionTime: done}, false},
		{"latest deleted", &runpb.ExecutionReference{Name: job + "/executions/e2", DeleteTime: done}, false},
	} {
		f.latest = tc.latest
		got, err := l.Running(ctx)
		if err != nil || got != tc.want {
			t.Errorf("%s: Running = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}
