-- Scope endpoints:connect now guards the forward proxy, which any valid key could use before.
-- Keys narrowed to endpoints:read were what the README told users to give CI runners: they get
-- endpoints:connect too, so that those runners keep working after the upgrade. Keys without
-- scopes of their own ('*') follow their user's role, which grants it from member up.
update api_keys set scopes = scopes || ' endpoints:connect'
where scopes <> '*'
  and (' ' || scopes || ' ') like '% endpoints:read %'
  and (' ' || scopes || ' ') not like '% endpoints:connect %';
