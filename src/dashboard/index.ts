export { dashboardRoutes, loadAssets, READ_ONLY, type DashboardControl, type DashboardOptions } from './dashboard.js';
export { connectHost, forwardV2, type V2Target } from './forward-v2.js';
