-- SpiderCoordinator health (spiderpool-gitops). `spiderpool controller` discovers the
-- cluster's pod and service CIDRs into status.phase (Synced | NotReady), status.reason,
-- status.overlayPodCIDR and status.serviceCIDR; until it has, the pods' routes cannot be tuned.
-- Runs without Lua's open libraries (Argo CD's default): base functions only.
local hs = {}
local status = obj.status or {}

if obj.metadata and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Terminating"
  hs.deletionMessage = hs.message -- Argo CD 3.6+ shows this for a terminating object
  return hs
end
if status.phase == "Synced" then
  hs.status = "Healthy"
  local pods = ""
  for _, cidr in ipairs(status.overlayPodCIDR or {}) do
    if pods ~= "" then pods = pods .. "," end
    pods = pods .. cidr
  end
  local services = ""
  for _, cidr in ipairs(status.serviceCIDR or {}) do
    if services ~= "" then services = services .. "," end
    services = services .. cidr
  end
  hs.message = "Synced: pod CIDRs " .. pods .. "; service CIDRs " .. services
  return hs
end
if status.phase == "NotReady" then
  hs.status = "Degraded"
  hs.message = "NotReady: " .. (status.reason or "no reason given")
  return hs
end
hs.status = "Progressing"
hs.message = "Waiting for spiderpool controller to discover the cluster's pod and service CIDRs"
return hs
