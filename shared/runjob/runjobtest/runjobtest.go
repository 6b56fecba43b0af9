// Package runjobtest is Cloud Run's Jobs API for tests, in process, as far
// as shared/runjob uses it: RunJob starts an execution, which is the job's
// latest until the next one; GetJob reports it, with a completion time
// once the test finishes it. Serve it on a loopback gRPC server and
// connect run.NewJobsClient to it (option.WithGRPCConn).
package runjobtest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Jobs is the fake. Now stamps executions (time.Now when nil).
type Jobs struct {
	runpb.UnimplementedJobsServer
	Now func() time.Time

	mu       sync.Mutex
	requests []*runpb.RunJobRequest
	latest   *runpb.ExecutionReference
}

// Serve serves f on a loopback port until stop is called.
func Serve(f *Jobs) (addr string, stop func(), err error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("runjobtest: listen: %w", err)
	}
	srv := grpc.NewServer()
	runpb.RegisterJobsServer(srv, f)
	go srv.Serve(lis)
	return lis.Addr().String(), srv.Stop, nil
}

func (f *Jobs) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// GetJob returns the job with its latest execution.
func (f *Jobs) GetJob(_ context.Context, req *runpb.GetJobRequest) (*runpb.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &runpb.Job{Name: req.Name, LatestCreatedExecution: f.latest}, nil
}

// RunJob starts an execution and returns its operation, whose metadata is
// the execution (as Cloud Run's is).
func (f *Jobs) RunJob(_ context.Context, req *runpb.RunJobRequest) (*longrunningpb.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	name := fmt.Sprintf("%s/executions/exec-%d", req.Name, len(f.requests))
	f.latest = &runpb.ExecutionReference{Name: name, CreateTime: timestamppb.New(f.now())}
	md, err := anypb.New(&runpb.Execution{Name: name, Job: req.Name, TaskCount: req.GetOverrides().GetTaskCount()})
	if err != nil {
		return nil, err
	}
	return &longrunningpb.Operation{Name: name + "/operation", Metadata: md}, nil
}

// Requests are the RunJob requests received, oldest first.
func (f *Jobs) Requests() []*runpb.RunJobRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*runpb.RunJobRequest(nil), f.requests...)
}

// Finish ends the latest execution (its tasks found no more work).
func (f *Jobs) Finish() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.latest != nil && f.latest.CompletionTime == nil {
		f.latest.CompletionTime = timestamppb.New(f.now())
	}
}
