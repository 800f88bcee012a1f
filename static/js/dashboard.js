// Dashboard: the live cluster, re-rendered on every poll pushed over the cluster socket.
"use strict";
ClusterView.follow((snapshot) => {
  ClusterView.totals(document.getElementById("totals"), snapshot);
  ClusterView.topology(document.getElementById("topology"), snapshot);
  ClusterView.nodes(document.getElementById("nodes"), snapshot);
  ClusterView.instances(document.getElementById("instances"), snapshot);
  document.getElementById("polled-at").textContent = `updated ${ClusterView.ago(snapshot.polled_at)}`;
});
