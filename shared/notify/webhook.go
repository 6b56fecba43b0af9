package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Webhook posts events to a Slack incoming webhook: a JSON body
// {"text": "..."} in mrkdwn. A webhook cannot look users up, so watchers are
// mentioned as <@local-part>, as bqetl does.
type Webhook struct {
	url    string
	client *http.Client
	render RenderOptions
	retry  RetryOptions
}

// WebhookOptions configures a Webhook. The zero value (or nil) uses
// http.DefaultClient and the default retries.
type WebhookOptions struct {
	HTTPClient *http.Client
	// Render is applied to every message; Format is always SlackMrkdwn.
	Render RenderOptions
	Retry  RetryOptions
}

// NewWebhook returns a Webhook posting to rawURL, which must be an absolute
// http or https URL.
func NewWebhook(rawURL string, opts *WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// The URL is a secret: name the problem, not the value.
		return nil, fmt.Errorf("notify: new webhook notifier: the webhook URL is not an absolute http(s) URL")
	}
	var o WebhookOptions
	if opts != nil {
		o = *opts
	}
	client := o.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	o.Render.Format = SlackMrkdwn
	o.Render.Mentions = nil
	return &Webhook{url: u.String(), client: client, render: o.Render, retry: o.Retry}, nil
}

// Notify implements Notifier. Rate limits (429, honouring Retry-After) and
// server errors are retried; any other non-2xx answer is permanent.
func (w *Webhook) Notify(ctx context.Context, e Event) error {
	body, err := json.Marshal(struct {
		Text string `json:"text"`
	}{Render(e, w.render)})
	if err != nil {
		return Permanent(fmt.Errorf("notify: webhook %s event for %s: encode: %w", e.Kind, e.Table, err))
	}
	var retryAfter time.Duration
	err = w.retry.do(ctx, "webhook POST", func() error {
		retryAfter = 0
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
		if err != nil {
			return &webhookError{err: err, permanent: true}
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := w.client.Do(req)
		if err != nil {
			// Never include the URL (a secret) in the error: strip it.
			if uerr, ok := errors.AsType[*url.Error](err); ok {
				err = uerr.Err
			}
			return &webhookError{err: err}
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode/100 == 2 {
			return nil
		}
		werr := &webhookError{err: fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(answer)))}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		case resp.StatusCode >= 500:
		default:
			werr.permanent = true
		}
		return werr
	}, func(err error) (verdict, time.Duration) {
		if we, ok := err.(*webhookError); ok && we.permanent {
			return permanent, 0
		}
		if ctx.Err() != nil {
			return transient, 0
		}
		return retryable, retryAfter
	})
	if err != nil {
		return fmt.Errorf("notify: webhook %s event for %s: %w", e.Kind, e.Table, err)
	}
	return nil
}

// webhookError is one failed POST.
type webhookError struct {
	err       error
	permanent bool
}

func (e *webhookError) Error() string { return e.err.Error() }
func (e *webhookError) Unwrap() error { return e.err }

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date
// (relative to now). It returns 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
