//! Deployments: what a server routes under a name. A deployment follows an alias (or pins a version), and may
//! send a share of the traffic to a canary version and mirror every request to a shadow version.

use serde::Serialize;
use steward_store::{
    Audit, Canary, Deployment, DeploymentTarget, ModelVersion, NewDeployment, Page, PageRequest,
};

use crate::{ServiceError, ServiceResult, Steward};

/// What `steward deploy` asks for. `name` defaults to the model's name, so that `POST /v2/models/iris/infer`
/// reaches the deployment of `iris`.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub name: Option<String>,
    pub model: String,
    pub primary: DeploymentTarget,
    pub canary: Option<Canary>,
    pub shadow: Option<i64>,
    pub reason: Option<String>,
}

/// A deployment with the versions its arms point at right now.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedDeployment {
    #[serde(flatten)]
    pub deployment: Deployment,
    pub primary_version: ModelVersion,
    pub canary_version: Option<ModelVersion>,
    pub shadow_version: Option<ModelVersion>,
}

impl ResolvedDeployment {
    pub fn describe(&self) -> String {
        let d = &self.deployment;
        let primary = match &d.primary {
            DeploymentTarget::Alias(alias) => {
                format!(
                    "{}@{alias} (version {})",
                    d.model, self.primary_version.version
                )
            }
            DeploymentTarget::Version(v) => format!("{}/{v}", d.model),
        };
        let mut text = format!("{}: {primary}", d.name);
        if let Some(canary) = &d.canary {
            text.push_str(&format!(
                ", canary version {} at {}%",
                canary.version, canary.percent
            ));
        }
        if let Some(shadow) = d.shadow {
            text.push_str(&format!(", shadow version {shadow}"));
        }
        text
    }
}

impl Steward {
    pub async fn deploy(&self, request: &DeployRequest) -> ServiceResult<ResolvedDeployment> {
        let name = request
            .name
            .clone()
            .unwrap_or_else(|| request.model.clone());
        let primary_version = self
            .primary_version(&request.model, &request.primary)
            .await?;
        for (arm, version) in [
            ("canary", request.canary.as_ref().map(|c| c.version)),
            ("shadow", request.shadow),
        ] {
            if version == Some(primary_version.version) {
                return Err(ServiceError::InvalidInput(format!(
                    "the {arm} version {} is the primary version already; name another version as {arm}",
                    primary_version.version
                )));
            }
        }
        let mut audit = self.audit();
        if let Some(reason) = &request.reason {
            audit = audit.with_reason(reason.clone());
        }
        let deployment = self
            .store
            .put_deployment(
                &NewDeployment {
                    name,
                    model: request.model.clone(),
                    primary: request.primary.clone(),
                    canary: request.canary.clone(),
                    shadow: request.shadow,
                },
                &audit,
            )
            .await?;
        self.resolve_deployment(deployment).await
    }

    /// The deployment `name` with the versions it routes to now.
    pub async fn deployment(&self, name: &str) -> ServiceResult<ResolvedDeployment> {
        let deployment = self.store.get_deployment(name).await?;
        self.resolve_deployment(deployment).await
    }

    /// A page of deployments (by name), each with the versions it routes to now.
    pub async fn deployments(&self, page: &PageRequest) -> ServiceResult<Page<ResolvedDeployment>> {
        let page = self.store.list_deployments(page).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for deployment in page.items {
            items.push(self.resolve_deployment(deployment).await?);
        }
        Ok(Page {
            items,
            next_page_token: page.next_page_token,
        })
    }

    /// The versions a deployment's arms point at now (its alias may have moved since it was written).
    pub async fn resolve_deployment(
        &self,
        deployment: Deployment,
    ) -> ServiceResult<ResolvedDeployment> {
        let primary_version = self
            .primary_version(&deployment.model, &deployment.primary)
            .await?;
        let canary_version = match &deployment.canary {
            Some(canary) => Some(
                self.store
                    .get_model_version(&deployment.model, canary.version)
                    .await?,
            ),
            None => None,
        };
        let shadow_version = match deployment.shadow {
            Some(version) => Some(
                self.store
                    .get_model_version(&deployment.model, version)
                    .await?,
            ),
            None => None,
        };
        Ok(ResolvedDeployment {
            deployment,
            primary_version,
            canary_version,
            shadow_version,
        })
    }

    async fn primary_version(
        &self,
        model: &str,
        target: &DeploymentTarget,
    ) -> ServiceResult<ModelVersion> {
        Ok(match target {
            DeploymentTarget::Alias(alias) => self.store.resolve_alias(model, alias).await?,
            DeploymentTarget::Version(version) => {
                self.store.get_model_version(model, *version).await?
            }
        })
    }

    pub async fn undeploy(&self, name: &str, reason: Option<&str>) -> ServiceResult<Deployment> {
        let mut audit: Audit = self.audit();
        if let Some(reason) = reason {
            audit = audit.with_reason(reason);
        }
        Ok(self.store.delete_deployment(name, &audit).await?)
    }
}
