-- Argo CD health of a sluice.dev FlowRun, from its phase and its Succeeded
-- condition. Healthy: Succeeded. Degraded: Failed or Cancelled (nothing was
-- published). Progressing: Pending or Running.
local hs = {}
local function succeeded()
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Succeeded" then
      return c
    end
  end
  return nil
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller"
  return hs
end
local c = succeeded()
local phase = obj.status.phase
if phase == nil and c ~= nil then
  if c.status == "True" then
    phase = "Succeeded"
  elseif c.status == "False" then
    phase = "Failed"
  end
end
local message = nil
if c ~= nil and c.message ~= nil and c.message ~= "" then
  message = c.message
end
if obj.status.error ~= nil and obj.status.error.message ~= nil then
  local reason = obj.status.error.reason or "Failed"
  message = reason .. ": " .. obj.status.error.message
end

if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = message or "Succeeded"
elseif phase == "Failed" then
  hs.status = "Degraded"
  hs.message = message or "Failed"
elseif phase == "Cancelled" then
  hs.status = "Degraded"
  hs.message = message or "Cancelled: nothing was published"
else
  hs.status = "Progressing"
  hs.message = message or (phase or "Pending")
end
return hs
