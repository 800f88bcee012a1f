"""REST API for the catalogue: list, add from the Hub, read, edit, delete, import from exo, and
give exo the card of a model it does not know."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.api import ApiView
from arthur_panel.schema import answers
from cluster_app.exo.cards import card_ids
from cluster_app.exo.client import ExoClient
from models_app.catalogue import services
from models_app.catalogue.selectors import catalogue_models, model_by_slug
from models_app.catalogue.serializers import LlmModelSerializer, ModelAddSerializer
from models_app.models import LlmModel


class ModelListApi(ApiView):
    @extend_schema(parameters=[OpenApiParameter("q"),
                               OpenApiParameter("tier", enum=LlmModel.Tier.values),
                               OpenApiParameter("role", enum=LlmModel.ROLES)],
                   responses=LlmModelSerializer(many=True))
    def get(self, request: Request) -> Response:
        params = request.query_params
        rows = catalogue_models(q=params.get("q", ""), tier=params.get("tier", ""),
                                role=params.get("role", ""))
        return Response(LlmModelSerializer(rows, many=True).data)

    @answers(404, 409, 502, 503)
    @extend_schema(request=ModelAddSerializer, responses={201: LlmModelSerializer})
    def post(self, request: Request) -> Response:
        data = ModelAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = services.model_add_from_hub(repo_id=data.validated_data["repo_id"])
        return Response(LlmModelSerializer(model).data, status=status.HTTP_201_CREATED)


class ModelDetailApi(ApiView):
    @extend_schema(responses=LlmModelSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return Response(LlmModelSerializer(model_by_slug(slug)).data)

    @extend_schema(request=LlmModelSerializer, responses=LlmModelSerializer)
    def patch(self, request: Request, slug: str) -> Response:
        model = model_by_slug(slug)
        data = LlmModelSerializer(model, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        model = services.model_update(model=model, changes=dict(data.validated_data))
        return Response(LlmModelSerializer(model).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str) -> Response:
        services.model_delete(model=model_by_slug(slug))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelImportExoApi(ApiView):
    @answers(502, 503)
    @extend_schema(request=None, responses=LlmModelSerializer(many=True))
    def post(self, request: Request) -> Response:
        with ExoClient() as client:
            created = services.models_import_from_exo(client=client)
        return Response(LlmModelSerializer(created, many=True).data)


class ExoCardSerializer(serializers.Serializer):
    model_id = serializers.CharField(help_text="exo's id for the model")
    known = serializers.BooleanField(help_text="exo has a card for it")
    added = serializers.BooleanField(required=False, help_text="this request added it")

    class Meta:
        ref_name = "ExoCard"


class ModelExoCardApi(ApiView):
    """exo places, loads and lists only models it has a card for; POST adds a catalogue model's
    card to exo (`POST /models/add`, read from the Hub) unless exo has it."""

    @answers(502, 503)
    @extend_schema(responses=ExoCardSerializer)
    def get(self, request: Request, slug: str) -> Response:
        model = model_by_slug(slug)
        with ExoClient() as client:
            known = model.exo_id in card_ids(client)
        return Response({"model_id": model.exo_id, "known": known})

    @answers(502, 503)
    @extend_schema(request=None, responses={201: ExoCardSerializer, 200: ExoCardSerializer})
    def post(self, request: Request, slug: str) -> Response:
        model = model_by_slug(slug)
        with ExoClient() as client:
            added = services.model_exo_card_add(model=model, client=client)
        return Response({"model_id": model.exo_id, "known": True, "added": added},
                        status=status.HTTP_201_CREATED if added else status.HTTP_200_OK)
