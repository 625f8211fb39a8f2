// The project's own tiny dashboard library (grafonnet cannot be installed here).
// Every dashboard is built from these helpers so that the lint rules in
// grafana/lint.py hold by construction: templated datasource, job/instance
// variables, a unit and a description on every panel, links that keep time and variables.
local ds = { type: 'prometheus', uid: '${datasource}' };
local site = import 'site.libsonnet';

// Shared tag: the dashboard links list every dashboard carrying it.
local familyTag = 'escrow-exporter';

// Series selector with the job/instance variables always applied, so that one
// Grafana can show several exporters (dashboard-linter target-job/instance rules).
local sel(metric, matchers='') =
  metric + '{job=~"$job",instance=~"$instance"' + (if matchers == '' then '' else ',' + matchers) + '}';

// An amount query with each mint's symbol as the `symbol` label (escrow_mint_info, from the
// config's mints), for legends that would otherwise show a 44-character address. A mint without
// info keeps its address as the symbol: the `or on (mint)` never drops a series.
local symbols(expr) =
  '(' + expr + ') * on (mint) group_left (symbol) max by (mint, symbol) (' + sel('escrow_mint_info') + ')'
  + ' or on (mint) label_join(' + expr + ', "symbol", "", "mint")';

local target(expr, legend='', instant=false, format='time_series') = {
  datasource: ds,
  expr: expr,
  legendFormat: legend,
  instant: instant,
  range: !instant,
  format: format,
};

local withRefIds(targets) = [
  targets[i] { refId: std.char(std.codepoint('A') + i) }
  for i in std.range(0, std.length(targets) - 1)
];

// Thresholds: list of [value, color]; the first value is null (base).
local thresholds(steps) = {
  mode: 'absolute',
  steps: [{ value: s[0], color: s[1] } for s in steps],
};

local basePanel(type, title, description, unit, targets, w, h) = {
  type: type,
  title: title,
  description: description,
  datasource: ds,
  targets: withRefIds(targets),
  fieldConfig: { defaults: { unit: unit }, overrides: [] },
  options: {},
  w:: w,
  h:: h,
};

{
  ds: ds,
  familyTag: familyTag,
  sel: sel,
  symbols: symbols,
  target: target,
  thresholds: thresholds,

  timeseries(title, description, unit, targets, w=12, h=8, stack=false, min=null)::
    basePanel('timeseries', title, description, unit, targets, w, h) {
      fieldConfig+: { defaults+: {
        custom: {
          drawStyle: 'line',
          lineWidth: 1,
          fillOpacity: if stack then 30 else 10,
          showPoints: 'never',
          stacking: { mode: if stack then 'normal' else 'none', group: 'A' },
        },
      } + (if min == null then {} else { min: min }) },
      options: {
        legend: { displayMode: 'table', placement: 'bottom', calcs: ['lastNotNull', 'max'] },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
    },

  // steps: thresholds for the background colour, e.g. [[null, 'red'], [1, 'green']].
  stat(title, description, unit, targets, w=4, h=4, steps=[[null, 'green']], mappings=[], decimals=null)::
    // Stats show one current value: instant queries are cheaper and exact.
    basePanel('stat', title, description, unit, [x { instant: true, range: false } for x in targets], w, h) {
      fieldConfig+: { defaults+: {
        thresholds: thresholds(steps),
        mappings: mappings,
        color: { mode: 'thresholds' },
      } + (if decimals == null then {} else { decimals: decimals }) },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: 'background',
        graphMode: 'none',
        textMode: 'auto',
        justifyMode: 'auto',
        orientation: 'auto',
      },
    },

  // Instant-query table: one row per series, labels as columns.
  table(title, description, unit, targets, w=12, h=8, hide=['Time'])::
    basePanel('table', title, description, unit, [t { instant: true, range: false, format: 'table' } for t in targets], w, h) {
      options: { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' } },
      transformations: [
        { id: 'organize', options: { excludeByName: { [k]: true for k in hide }, renameByName: {} } },
      ],
    },

  piechart(title, description, unit, targets, w=8, h=8)::
    basePanel('piechart', title, description, unit, targets, w, h) {
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        pieType: 'donut',
        legend: { displayMode: 'table', placement: 'right', values: ['value', 'percent'] },
        tooltip: { mode: 'single', sort: 'none' },
      },
    },

  bargauge(title, description, unit, targets, w=12, h=8, steps=[[null, 'green']])::
    basePanel('bargauge', title, description, unit, targets, w, h) {
      fieldConfig+: { defaults+: { thresholds: thresholds(steps), color: { mode: 'thresholds' } } },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        orientation: 'horizontal',
        displayMode: 'gradient',
        showUnfilled: true,
      },
    },

  // A row header: the panels after it, up to the next row, sit under its title.
  row(title):: { type: 'row', title: title, collapsed: false, panels: [], w:: 24, h:: 1 },

  // Variables --------------------------------------------------------------
  datasourceVar:: {
    name: 'datasource',
    label: 'Data Source',
    type: 'datasource',
    query: 'prometheus',
    current: {},
    hide: 0,
    refresh: 1,
    regex: '',
    options: [],
  },

  // A multi-select label variable whose "All" is the regex .+ so selectors stay
  // valid PromQL (dashboard-linter template-job/instance rules).
  labelVar(name, label, query):: {
    name: name,
    label: label,
    type: 'query',
    datasource: ds,
    query: { query: query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    definition: query,
    multi: true,
    includeAll: true,
    allValue: '.+',
    current: {},
    hide: 0,
    refresh: 2,
    regex: '',
    sort: 1,
    options: [],
  },

  jobVar:: self.labelVar('job', 'job', 'label_values(escrow_exporter_build_info, job)'),
  instanceVar:: self.labelVar('instance', 'instance', 'label_values(escrow_exporter_build_info{job=~"$job"}, instance)'),

  // Deployments and restarts of the exporter, on every dashboard: one annotation at each process
  // start (useValueForTime: the query's value is the start time), titled with the version the
  // process runs, so a change in the panels can be set against a release.
  deployments:: {
    name: 'Exporter deployments and restarts',
    datasource: ds,
    enable: true,
    hide: false,
    iconColor: 'blue',
    expr: 'max by (job, instance, version) (' + sel('process_start_time_seconds')
          + ' * on (job, instance) group_left (version) ' + sel('escrow_exporter_build_info') + ') * 1000',
    step: '60s',
    useValueForTime: true,
    titleFormat: 'escrow-exporter {{version}} started',
    textFormat: '{{instance}}',
    tagKeys: 'version',
  },

  // Deployments and restarts of the platform's application (seed 004: deployments as P3
  // information), next to the exporter's: one annotation at each start of a process scraped as the
  // site's app_http_job (its client library's process_start_time_seconds), in another colour.
  appDeployments:: {
    name: 'Application deployments and restarts',
    datasource: ds,
    enable: true,
    hide: false,
    iconColor: 'purple',
    expr: 'max by (job, instance) (' + sel('process_start_time_seconds', 'job="' + site.app_http_job + '"') + ') * 1000',
    step: '60s',
    useValueForTime: true,
    titleFormat: '{{job}} started',
    textFormat: '{{instance}}',
  },

  // Dashboard --------------------------------------------------------------
  // panels: a flat list laid out left to right, wrapping at Grafana's 24 columns.
  layout(panels)::
    local step(acc, p) =
      local wrap = acc.x + p.w > 24;
      local x = if wrap then 0 else acc.x;
      local y = if wrap then acc.y + acc.rowH else acc.y;
      local rowH = if wrap then p.h else std.max(acc.rowH, p.h);
      {
        x: x + p.w,
        y: y,
        rowH: rowH,
        out: acc.out + [p { id: std.length(acc.out) + 1, gridPos: { x: x, y: y, w: p.w, h: p.h } }],
      };
    std.foldl(step, panels, { x: 0, y: 0, rowH: 0, out: [] }).out,

  dashboard(uid, title, description, version, tags, panels, variables=[])::
    {
      uid: uid,
      title: title,
      description: description,
      version: version,
      tags: [familyTag] + tags,
      editable: false,
      graphTooltip: 1,
      schemaVersion: 39,
      timezone: 'utc',
      refresh: '30s',
      time: { from: 'now-6h', to: 'now' },
      timepicker: {},
      fiscalYearStartMonth: 0,
      liveNow: false,
      annotations: { list: [$.deployments, $.appDeployments] },
      links: [
        {
          title: 'Escrow dashboards',
          type: 'dashboards',
          tags: [familyTag],
          asDropdown: false,
          includeVars: true,
          keepTime: true,
          targetBlank: false,
          icon: 'external link',
          tooltip: '',
          url: '',
        },
      ],
      templating: { list: [$.datasourceVar, $.jobVar, $.instanceVar] + variables },
      panels: $.layout(panels),
    },
}
