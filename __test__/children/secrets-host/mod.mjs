// Loaded as ./mod.mjs?token=…#…: its URL carries a query and a fragment.
export function holdQuery(list) {
  for (let i = 0; i < 40000; i++) list.push({ i, text: `q${i}` })
  return list
}

export function spin(end) {
  let n = 0
  while (Date.now() < end) n++
  return n
}

export function fail() {
  const reply = {}
  return reply.body.length
}
