/** The copy-paste curl walkthrough `npm start` prints (the README shows the same steps). */
export function walkthrough(issuer: string, adminId: string, adminSecret: string, collector = 'http://localhost:4001'): string {
  return `
Tessera auth server at ${issuer}

Bootstrap admin client (shown once, keep it safe):
  ADMIN_CLIENT_ID=${adminId}
  ADMIN_CLIENT_SECRET=${adminSecret}

Try it (bash; node extracts JSON fields):
  j() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[process.argv[1]]))' "$1"; }
  ADMIN_TOKEN=$(curl -s -u '${adminId}:${adminSecret}' -d grant_type=client_credentials ${issuer}/token | j access_token)
  CLIENT=$(curl -s -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \\
    -d '{"name":"demo","scopes":["collect"],"audiences":["collector"]}' ${issuer}/admin/clients)
  CLIENT_ID=$(echo "$CLIENT" | j client_id); CLIENT_SECRET=$(echo "$CLIENT" | j client_secret)
  TOKENS=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials -d scope=collect ${issuer}/token)
  curl -s -H "Authorization: Bearer $(echo "$TOKENS" | j access_token)" ${collector}/collect
  REFRESH=$(echo "$TOKENS" | j refresh_token)
  curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=refresh_token -d "refresh_token=$REFRESH" ${issuer}/token
  curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=refresh_token -d "refresh_token=$REFRESH" ${issuer}/token   # reuse: invalid_grant, family revoked

Docs: ${issuer}/docs   Metrics: ${issuer}/metrics
`;
}
