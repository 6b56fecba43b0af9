package notify

import (
	"fmt"
	"io"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
)

// FromEnv builds the Notifier a deployed component uses: Slack when a bot
// token is set (SLACK_BOT_TOKEN, posting to BQBACKFILL_SLACK_CHANNEL), else
// the incoming webhook when SLACK_WEBHOOK_URL is set, else a Log writing to
// logWriter. Table names link to the Cloud Console, and messages link to the
// backfill's logs in BQBACKFILL_PROJECT when it is set.
func FromEnv(env cloudenv.Env, logWriter io.Writer) (Notifier, error) {
	render := RenderOptions{ConsoleLinks: true}
	if env.Project != "" {
		render.LogsURL = CloudLoggingURL(env.Project)
	}
	switch {
	case env.SlackToken != "":
		s, err := NewSlack(env.SlackToken, env.SlackChannel, &SlackOptions{Render: render})
		if err != nil {
			return nil, fmt.Errorf("notify: from environment (%s): %w", cloudenv.VarSlackToken, err)
		}
		return s, nil
	case env.SlackWebhook != "":
		w, err := NewWebhook(env.SlackWebhook, &WebhookOptions{Render: render})
		if err != nil {
			return nil, fmt.Errorf("notify: from environment (%s): %w", cloudenv.VarSlackWebhook, err)
		}
		return w, nil
	}
	if logWriter == nil {
		return nil, fmt.Errorf("notify: from environment: neither %s nor %s is set, and there is no log writer",
			cloudenv.VarSlackToken, cloudenv.VarSlackWebhook)
	}
	return NewLog(logWriter, &render), nil
}
