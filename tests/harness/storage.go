package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcelasticsearch "github.com/testcontainers/testcontainers-go/modules/elasticsearch"
)

// Storage is one storage node on its own, outside any stack: what the
// contract suite checks the Elasticsearch API against.
type Storage struct {
	URL       string // http://127.0.0.1:PORT
	Image     string
	container *tcelasticsearch.ElasticsearchContainer
}

// StartStorage starts e.Storage (the pinned Elasticsearch when it is here,
// the test double's image otherwise) with testcontainers' elasticsearch
// module, configured as compose.yaml runs storage: one node, security and
// machine learning off, a 512 MB heap. Stop removes it.
func (e *Env) StartStorage(ctx context.Context) (*Storage, error) {
	ctx, cancel := context.WithTimeout(ctx, e.StorageStart())
	defer cancel()
	c, err := tcelasticsearch.Run(ctx, e.Storage,
		testcontainers.WithEnv(map[string]string{
			"xpack.security.enabled": "false",
			"xpack.ml.enabled":       "false",
			"ES_JAVA_OPTS":           "-Xms512m -Xmx512m",
		}),
		testcontainers.WithLabels(map[string]string{labelOwner: ProjectName("test")}),
	)
	s := &Storage{Image: e.Storage, container: c}
	if err != nil {
		s.Stop(context.Background())
		return nil, fmt.Errorf("start storage %s: %w", e.Storage, err)
	}
	s.URL = c.Settings.Address
	return s, nil
}

// Stop removes the storage container.
func (s *Storage) Stop(ctx context.Context) {
	if s.container != nil {
		timeout := 10 * time.Second
		_ = s.container.Terminate(ctx, testcontainers.StopTimeout(timeout))
	}
}
