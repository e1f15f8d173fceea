-- SpiderIPPool health (spiderpool-gitops). Rests only on what this project writes: the spec
-- (rendered from git), the deletionTimestamp and the ip-release finalizer, the prune's
-- "drained" mark, and the status the node agent commits with every allocation (allocatedIPs,
-- allocatedIPCount, totalIPCount). A pool nobody allocated from yet has no status: Healthy.
-- Runs without Lua's open libraries (Argo CD's default): base functions only.
local hs = {}
local status = obj.status or {}
local spec = obj.spec or {}
local annotations = (obj.metadata and obj.metadata.annotations) or {}
local allocated = tonumber(status.allocatedIPCount) or 0
local total = tonumber(status.totalIPCount)

if obj.metadata and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  if allocated > 0 then
    hs.message = "Terminating: " .. allocated .. " IP(s) still allocated; the finalizer gitops.spidernet.io/ip-release keeps the pool until they are released"
  else
    hs.message = "Terminating: waiting for the controller to release the finalizer gitops.spidernet.io/ip-release"
  end
  hs.deletionMessage = hs.message -- Argo CD 3.6+ shows this for a terminating object
  return hs
end

if spec.disable == true then
  if allocated > 0 then
    hs.status = "Progressing"
    if annotations["gitops.spidernet.io/applied-digest"] == "drained" then
      hs.message = "Draining: pruned from the spec, disabled until its " .. allocated .. " allocated IP(s) are released"
    else
      hs.message = "Draining: disabled, " .. allocated .. " IP(s) still allocated"
    end
  else
    hs.status = "Healthy"
    hs.message = "Disabled: no IPs allocated"
  end
  return hs
end

if total ~= nil and total > 0 and allocated >= total then
  hs.status = "Degraded"
  hs.message = "Exhausted: " .. allocated .. " of " .. total .. " IPs allocated; new pods get no address from this pool"
  return hs
end

hs.status = "Healthy"
if total ~= nil then
  hs.message = allocated .. " of " .. total .. " IPs allocated"
else
  hs.message = "No IPs allocated yet"
end
return hs
