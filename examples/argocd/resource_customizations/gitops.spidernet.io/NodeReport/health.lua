-- NodeReport health (spiderpool-gitops). The node agent keeps status.findings (type, severity
-- Info | Warning | Error, object, message) and status.observedAt. Error findings (a missing
-- master interface, an exhausted pool, an IP conflict...) make the node Degraded; warnings
-- alone keep it Healthy with the count in the message.
-- Runs without Lua's open libraries (Argo CD's default): base functions only.
local hs = {}
local status = obj.status
if status == nil or status.observedAt == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the node agent's first report"
  return hs
end
local errors = 0
local warnings = 0
local first = nil
for _, finding in ipairs(status.findings or {}) do
  if finding.severity == "Error" then
    errors = errors + 1
    if first == nil then
      local object = finding.object or {}
      first = finding.type .. " " .. (object.kind or "") .. " " .. (object.name or "") .. ": " .. (finding.message or "")
    end
  elseif finding.severity == "Warning" then
    warnings = warnings + 1
  end
end
if errors > 0 then
  hs.status = "Degraded"
  hs.message = errors .. " error finding(s), " .. warnings .. " warning(s); first: " .. first
  return hs
end
hs.status = "Healthy"
if warnings > 0 then
  hs.message = warnings .. " warning finding(s)"
else
  hs.message = "No findings"
end
return hs
