package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// Slack posts events to a channel with a bot token (chat.postMessage),
// mentioning each watcher. A watcher that is an email is looked up with
// users.lookupByEmail and mentioned by user id; the answer is cached for the
// life of the Slack value (a function instance), including "no such user".
// A watcher that is not found, cannot be looked up, or is a GitHub identity
// is mentioned as <@local-part>, as bqetl does.
//
// The bot needs the chat:write and users:read.email scopes, and must be a
// member of the channel (or have chat:write.public).
type Slack struct {
	client  *slack.Client
	channel string
	render  RenderOptions
	retry   RetryOptions
	logger  *slog.Logger

	mu    sync.Mutex
	users map[string]string // lower-case email -> user id; "" means not found
}

// SlackOptions configures a Slack notifier. The zero value (or nil) talks to
// slack.com with http.DefaultClient and the default retries.
type SlackOptions struct {
	// APIURL replaces https://slack.com/api/ (tests: httptest URL + "/").
	APIURL string
	// HTTPClient replaces the default HTTP client.
	HTTPClient *http.Client
	// Render is applied to every message; Format and Mentions are set by
	// the notifier.
	Render RenderOptions
	// Retry bounds the retries of each API call.
	Retry RetryOptions
	// Logger receives watcher lookups that fell back to the local part;
	// nil means slog.Default().
	Logger *slog.Logger
}

// NewSlack returns a Slack notifier posting to channel (a name like
// "#dataops-alerts" or a channel id) with the bot token.
func NewSlack(token, channel string, opts *SlackOptions) (*Slack, error) {
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("notify: new Slack notifier: the bot token is empty")
	}
	if strings.TrimSpace(channel) == "" {
		return nil, errors.New("notify: new Slack notifier: the channel is empty")
	}
	var o SlackOptions
	if opts != nil {
		o = *opts
	}
	var copts []slack.Option
	if o.APIURL != "" {
		copts = append(copts, slack.OptionAPIURL(o.APIURL))
	}
	if o.HTTPClient != nil {
		copts = append(copts, slack.OptionHTTPClient(o.HTTPClient))
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Slack{
		client:  slack.New(token, copts...),
		channel: channel,
		render:  o.Render,
		retry:   o.Retry,
		logger:  logger,
		users:   map[string]string{},
	}, nil
}

// Notify implements Notifier: it resolves the watchers, renders the event as
// mrkdwn and posts it to the channel.
func (s *Slack) Notify(ctx context.Context, e Event) error {
	mentions, err := s.mentions(ctx, e.Watchers)
	if err != nil {
		return fmt.Errorf("notify: slack %s event for %s: %w", e.Kind, e.Table, err)
	}
	opts := s.render
	opts.Format = SlackMrkdwn
	opts.Mentions = mentions
	text := Render(e, opts)
	err = s.retry.do(ctx, "chat.postMessage to "+s.channel, func() error {
		_, _, err := s.client.PostMessageContext(ctx, s.channel,
			slack.MsgOptionText(text, false), slack.MsgOptionDisableLinkUnfurl())
		return err
	}, classifySlack)
	if err != nil {
		// IsPermanent sees through the wrapping.
		return fmt.Errorf("notify: slack %s event for %s: %w", e.Kind, e.Table, err)
	}
	return nil
}

// mentions returns one mention per watcher, in order. It fails only when
// ctx is done; every other lookup failure falls back to the local part.
func (s *Slack) mentions(ctx context.Context, watchers []string) ([]string, error) {
	out := make([]string, 0, len(watchers))
	for _, w := range watchers {
		id, err := s.userID(ctx, w)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("resolve watcher %q: %w", w, ctx.Err())
			}
			s.logger.Warn("slack user lookup failed; mentioning the local part",
				"watcher", w, "error", err.Error())
		}
		if id != "" {
			out = append(out, "<@"+id+">")
			continue
		}
		out = append(out, "<@"+escapeSlack(LocalPart(w))+">")
	}
	return out, nil
}

// userID returns the Slack user id of an email watcher, "" when there is
// none (not an email, or no such user), and an error when the lookup failed
// in a way a later call might not.
func (s *Slack) userID(ctx context.Context, watcher string) (string, error) {
	email := strings.ToLower(strings.TrimSpace(watcher))
	if !isEmail(email) {
		return "", nil
	}
	s.mu.Lock()
	id, ok := s.users[email]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	var user *slack.User
	err := s.retry.do(ctx, "users.lookupByEmail", func() error {
		var err error
		user, err = s.client.GetUserByEmailContext(ctx, email)
		return err
	}, classifySlack)
	var serr slack.SlackErrorResponse
	switch {
	case err == nil && user != nil && user.ID != "":
		id = user.ID
	case errors.As(err, &serr) && serr.Err == "users_not_found":
		id = ""
	case err != nil:
		return "", err
	}
	s.mu.Lock()
	s.users[email] = id
	s.mu.Unlock()
	return id, nil
}

// isEmail matches what bqetl accepts as an email watcher: something, "@",
// something, ".", something.
func isEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || strings.Contains(domain, "@") {
		return false
	}
	i := strings.LastIndex(domain, ".")
	return i > 0 && i < len(domain)-1
}

func escapeSlack(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Slack error codes (the "error" of an ok:false answer) worth retrying.
var retryableSlackErrors = map[string]bool{
	"ratelimited":         true,
	"rate_limited":        true,
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
}

// classifySlack sorts a slack-go error: rate limits and server errors are
// retried (a rate limit after its Retry-After), answers like invalid_auth or
// channel_not_found are permanent, and transport failures are retried.
func classifySlack(err error) (verdict, time.Duration) {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return retryable, rl.RetryAfter
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		if sc.Retryable() {
			return retryable, 0
		}
		return permanent, 0
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		if retryableSlackErrors[se.Err] {
			return retryable, 0
		}
		return permanent, 0
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return transient, 0
	}
	return retryable, 0
}
