-- Argo CD health of a sluice.dev Flow, from its status conditions.
-- Healthy: Ready. Suspended: spec.suspend. Degraded: Stalled, Deactivated or
-- not Ready. Progressing: the controller has not caught up with the spec.
local hs = {}
local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end
local function say(status, c, fallback)
  hs.status = status
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    hs.message = c.message
  else
    hs.message = fallback
  end
  return hs
end

if obj.status == nil then
  return say("Progressing", nil, "Waiting for the controller")
end
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  return say("Progressing", nil, "Waiting for the controller to observe generation " .. generation)
end
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  return say("Degraded", stalled, "Stalled")
end
local deactivated = condition("Deactivated")
if deactivated ~= nil and deactivated.status == "True" then
  return say("Degraded", deactivated, "Deactivated after repeated failures")
end
local suspended = condition("Suspended")
if suspended ~= nil and suspended.status == "True" then
  return say("Suspended", suspended, "Suspended")
end
local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  return say("Progressing", reconciling, "Reconciling")
end
local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  return say("Healthy", ready, "Ready")
end
if ready ~= nil and ready.status == "False" then
  return say("Degraded", ready, "Not ready")
end
return say("Progressing", ready, "Waiting for the Ready condition")
