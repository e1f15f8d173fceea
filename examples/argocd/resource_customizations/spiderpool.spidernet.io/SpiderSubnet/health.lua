-- SpiderSubnet health (spiderpool-gitops). Rests only on what this project writes: the spec,
-- the deletionTimestamp with the ip-release finalizer, and the allocation counts when a
-- controller maintains them (absent when none does: then the subnet is Healthy once applied).
-- Runs without Lua's open libraries (Argo CD's default): base functions only.
local hs = {}
local status = obj.status or {}
local allocated = tonumber(status.allocatedIPCount) or 0
local total = tonumber(status.totalIPCount)
local cidr = (obj.spec and obj.spec.subnet) or "its CIDR"

if obj.metadata and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Terminating: the finalizer gitops.spidernet.io/ip-release keeps the subnet while a SpiderIPPool lies in " .. cidr .. " or holds its IPs"
  hs.deletionMessage = hs.message -- Argo CD 3.6+ shows this for a terminating object
  return hs
end

if total ~= nil and total > 0 and allocated >= total then
  hs.status = "Degraded"
  hs.message = "Exhausted: all " .. total .. " IPs of " .. cidr .. " are handed to pools"
  return hs
end

hs.status = "Healthy"
if total ~= nil then
  hs.message = allocated .. " of " .. total .. " IPs of " .. cidr .. " handed to pools"
else
  hs.message = cidr
end
return hs
