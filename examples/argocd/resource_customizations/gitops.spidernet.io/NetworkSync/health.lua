-- NetworkSync health (spiderpool-gitops). NetworkSync follows kstatus: status.observedGeneration,
-- and conditions Ready / Reconciling / Stalled, each with observedGeneration. Reading order as
-- kstatus: not yet observed -> Progressing; Stalled=True -> Degraded; Reconciling=True ->
-- Progressing; Ready=True -> Healthy; anything else -> Progressing.
-- Runs without Lua's open libraries (Argo CD's default): base functions only.
local hs = {}
local status = obj.status
local generation = (obj.metadata and obj.metadata.generation) or 0

if obj.metadata and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Terminating"
  hs.deletionMessage = hs.message -- Argo CD 3.6+ shows this for a terminating object
  return hs
end
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the first apply to be recorded"
  return hs
end
if status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the reconciler to observe generation " .. generation .. " (observed " .. status.observedGeneration .. ")"
  return hs
end

local found = {}
for _, condition in ipairs(status.conditions or {}) do
  found[condition.type] = condition
end
local function says(condition)
  local text = condition.reason or ""
  if condition.message ~= nil and condition.message ~= "" then
    text = text .. ": " .. condition.message
  end
  return text
end

if found.Stalled ~= nil and found.Stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = says(found.Stalled)
  return hs
end
if found.Reconciling ~= nil and found.Reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = says(found.Reconciling)
  return hs
end
if found.Ready ~= nil and found.Ready.status == "True" then
  hs.status = "Healthy"
  hs.message = says(found.Ready)
  return hs
end
hs.status = "Progressing"
if found.Ready ~= nil then
  hs.message = says(found.Ready)
else
  hs.message = "No Ready condition yet"
end
return hs
