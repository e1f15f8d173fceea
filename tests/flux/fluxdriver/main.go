// flux-health: the health verdicts Flux's kustomize-controller reaches for objects, with Flux's
// own code: kstatus (github.com/fluxcd/cli-utils/pkg/kstatus/status.Compute, what `spec.wait`
// and `spec.healthChecks` use for a kind without expressions) and the CEL evaluator of
// `spec.healthCheckExprs` (github.com/fluxcd/pkg/runtime/cel.StatusEvaluator).
//
// stdin: {"exprs": [{"apiVersion", "kind", "current", "inProgress", "failed"}], "objects": [{...}]}
// stdout: [{"kstatus": "Current", "kstatusMessage": "...", "cel": "InProgress", "celError": ""}] (cel only
// for objects whose apiVersion/kind has expressions)
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/pkg/apis/kustomize"
	"github.com/fluxcd/pkg/runtime/cel"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

type input struct {
	Exprs   []kustomize.CustomHealthCheck `json:"exprs"`
	Objects []map[string]any              `json:"objects"`
}

type verdict struct {
	KStatus        string `json:"kstatus"`
	KStatusMessage string `json:"kstatusMessage"`
	CEL            string `json:"cel,omitempty"`
	CELError       string `json:"celError,omitempty"`
}

func main() {
	var in input
	raw, err := io.ReadAll(os.Stdin)
	if err == nil {
		err = utiljson.Unmarshal(raw, &in) // integers as int64, as objects read from the API server
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "flux-health: reading input:", err)
		os.Exit(2)
	}
	evaluators := map[string]*cel.StatusEvaluator{}
	for _, check := range in.Exprs {
		e, err := cel.NewStatusEvaluator(&check.HealthCheckExpressions)
		if err != nil {
			fmt.Fprintf(os.Stderr, "flux-health: %s %s: %v\n", check.APIVersion, check.Kind, err)
			os.Exit(2)
		}
		evaluators[check.APIVersion+"/"+check.Kind] = e
	}
	out := []verdict{}
	for _, obj := range in.Objects {
		u := &unstructured.Unstructured{Object: obj}
		var v verdict
		result, err := status.Compute(u)
		if err != nil {
			v.KStatus, v.KStatusMessage = "Error", err.Error()
		} else {
			v.KStatus, v.KStatusMessage = result.Status.String(), result.Message
		}
		if e, ok := evaluators[u.GetAPIVersion()+"/"+u.GetKind()]; ok {
			r, err := e.Evaluate(context.Background(), u)
			if err != nil {
				v.CEL, v.CELError = "Error", err.Error()
			} else {
				v.CEL = r.Status.String()
			}
		}
		out = append(out, v)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
