// argocd-cmp-driver: asks a running argocd-cmp-server for an app's manifests exactly as
// argocd-repo-server does (reposerver/repository/repository.go runConfigManagementPluginSidecars):
// discovery.DetectConfigManagementPlugin over the sockets in $ARGOCD_PLUGINSOCKFILEPATH (with
// the plugin's name, or by asking every plugin's discover), CheckPluginConfiguration, then the
// GenerateManifest stream fed by cmp.SendRepoStream (the repo as a tar.gz, the env as metadata)
// and the answer split with gitops-engine's kube.SplitYAML.
//
// Usage: argocd-cmp-driver -repo DIR -app RELPATH [-plugin NAME] [-timeout 60s] < env-lines
// Prints {"manifests": [...]} (exit 0) or {"error": "..."} (exit 1) as JSON.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/utils/kube"
	"github.com/argoproj/argo-cd/v3/util/app/discovery"
	"github.com/argoproj/argo-cd/v3/util/cmp"
	grpc_retry "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/retry"
	"google.golang.org/protobuf/types/known/emptypb"
)

func fail(err error) {
	out, _ := json.Marshal(map[string]string{"error": err.Error()})
	fmt.Println(string(out))
	os.Exit(1)
}

func main() {
	repo := flag.String("repo", "", "the repository checkout")
	app := flag.String("app", ".", "the application's path in the repository")
	plugin := flag.String("plugin", "", "spec.source.plugin.name (empty: discovery)")
	timeout := flag.Duration("timeout", 60*time.Second, "the repo-server's request timeout")
	flag.Parse()

	var env []string
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		if line := strings.TrimRight(scanner.Text(), "\r"); line != "" {
			env = append(env, line)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	repoPath, err := filepath.Abs(*repo)
	if err != nil {
		fail(err)
	}
	appPath := filepath.Join(repoPath, *app)

	conn, client, err := discovery.DetectConfigManagementPlugin(ctx, appPath, repoPath, *plugin, env, nil)
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	if _, err := client.CheckPluginConfiguration(ctx, &emptypb.Empty{}); err != nil {
		fail(fmt.Errorf("error calling cmp-server checkPluginConfiguration: %w", err))
	}
	stream, err := client.GenerateManifest(ctx, grpc_retry.Disable())
	if err != nil {
		fail(fmt.Errorf("error getting generateManifestStream: %w", err))
	}
	if err := cmp.SendRepoStream(ctx, appPath, repoPath, stream, env, nil); err != nil {
		fail(fmt.Errorf("error sending file to cmp-server: %w", err))
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		fail(fmt.Errorf("error generating manifests in cmp: %w", err))
	}
	var objects []any
	for _, text := range resp.Manifests {
		objs, err := kube.SplitYAML([]byte(text))
		if err != nil {
			fail(fmt.Errorf("failed to convert CMP manifests to unstructured objects: %s", err.Error()))
		}
		for _, obj := range objs {
			objects = append(objects, obj.Object)
		}
	}
	out, _ := json.Marshal(map[string]any{"manifests": objects})
	fmt.Println(string(out))
}
