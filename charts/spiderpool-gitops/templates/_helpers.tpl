{{/* Names, labels and the image, shared by every template. */}}

{{- define "spiderpool-gitops.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "spiderpool-gitops.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "spiderpool-gitops.controller" -}}
{{- printf "%s-controller" (include "spiderpool-gitops.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "spiderpool-gitops.agent" -}}
{{- printf "%s-agent" (include "spiderpool-gitops.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "spiderpool-gitops.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "spiderpool-gitops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: spiderpool-gitops
{{- end -}}

{{/* selectorLabels: pass (list $ "controller"|"agent") */}}
{{- define "spiderpool-gitops.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "spiderpool-gitops.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "spiderpool-gitops.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

